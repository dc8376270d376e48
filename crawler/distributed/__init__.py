"""Distributed sweeps on scrapy-redis: any number of workers share one
sweep's request queue and dupefilter in Redis and judge pages in their
pipelines (no database); judged items travel through a Redis stream to one
writer that owns the SQLite store.

* ``keys``: Redis key names, connections, process owners;
* ``serializer``: requests as tagged JSON (never pickle: Redis input is hostile);
* ``scripts``: the Lua scripts that make every hand-over atomic;
* ``scheduler``: scrapy-redis's scheduler with reliable pops (in-flight
  entries per worker, requeued when the worker dies);
* ``worker``: the worker spider, its extension and pipeline, ``run_worker``;
* ``ingest``: the one writer (consumer group, batches, ack after commit);
* ``coordinator``: ``certwatch sweep --redis``: seed, wait, record.

Imports pipelines/ and keywords/ (and the rest of crawler/), never reports/.
"""
