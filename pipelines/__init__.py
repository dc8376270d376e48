"""Everything that turns a fetched page into a judged finding: plain
functions (used by the CLI too) and the small Scrapy pipelines over them,
and the store (``pipelines.store``, the only SQL). Imports only keywords/
(data) among certwatch's parts: never crawler/ or reports/."""
__version__ = "0.1.0"
