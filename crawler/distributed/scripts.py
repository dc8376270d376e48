"""The Lua scripts that make each hand-over atomic. Redis runs a script
as one step, so a process killed between two commands cannot leave work
half-moved: a request is either in a queue or in exactly one worker's
in-flight hash; a child request's fingerprint is added together with the
request; an item is acknowledged together with its sweep's count.

In-flight tokens read ``KIND|SWEEP|SCORE|SEQ`` (kind ``r`` a queued
request, ``s`` a start entry), so a dead worker's entries go back where
they came from. Counters of a sweep are touched only while its keys exist,
so late work of a finished sweep leaves nothing behind. Keys built inside a
script share the deployment prefix
(one Redis server, not a cluster)."""
from __future__ import annotations

# KEYS: active, inflight:W, workers; ARGV: prefix, accepted active value, seq, sweep, worker id
POP = """
local active = redis.call('GET', KEYS[1])
if not active then return {'none'} end
if active ~= ARGV[2] then return {'switch', active} end
redis.call('SADD', KEYS[3], ARGV[5])
local base = ARGV[1] .. ':sweep:' .. ARGV[4]
local r = redis.call('ZRANGE', base .. ':requests', 0, 0, 'WITHSCORES')
if #r > 0 then
  redis.call('ZREM', base .. ':requests', r[1])
  local token = 'r|' .. ARGV[4] .. '|' .. r[2] .. '|' .. ARGV[3]
  redis.call('HSET', KEYS[2], token, r[1])
  return {'r', token, r[1]}
end
local s = redis.call('LPOP', base .. ':starts')
if s then
  local token = 's|' .. ARGV[4] .. '|0|' .. ARGV[3]
  redis.call('HSET', KEYS[2], token, s)
  return {'s', token, s}
end
return {'empty'}
"""

# KEYS: dupefilter, queue; ARGV: fingerprint ('' = dont_filter), score, data
ENQUEUE = """
if ARGV[1] ~= '' then
  if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""

# KEYS: inflight:W, workers, worker:W, worker:W:alive, sweeps
# ARGV: prefix, worker id, 'force' (its process is gone) or ''
REQUEUE = """
if ARGV[3] ~= 'force' and redis.call('EXISTS', KEYS[4]) == 1 then return -1 end
local entries = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #entries, 2 do
  local kind, sweep, score = string.match(entries[i], '^([rs])|(%d+)|([^|]*)|')
  if sweep and redis.call('SISMEMBER', KEYS[5], sweep) == 1 then
    local base = ARGV[1] .. ':sweep:' .. sweep
    if kind == 'r' then
      redis.call('ZADD', base .. ':requests', score, entries[i + 1])
    else
      redis.call('LPUSH', base .. ':starts', entries[i + 1])
    end
    redis.call('HINCRBY', base .. ':counts', 'requeued', 1)
    n = n + 1
  end
end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
redis.call('SREM', KEYS[2], ARGV[2])
return n
"""

# KEYS: workers; ARGV: prefix, sweep. 1 when no start, queued or in-flight work is left.
DRAINED = """
local base = ARGV[1] .. ':sweep:' .. ARGV[2]
if redis.call('LLEN', base .. ':starts') > 0 or redis.call('ZCARD', base .. ':requests') > 0 then
  return 0
end
for _, w in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  for _, t in ipairs(redis.call('HKEYS', ARGV[1] .. ':inflight:' .. w)) do
    if string.match(t, '^%a|(%d+)|') == ARGV[2] then return 0 end
  end
end
return 1
"""

# KEYS: stream, the sweep's counts; ARGV: sweep id, worker id, item JSON.
# Counted only while the sweep is in Redis (a late item of a finished sweep
# is still written, but leaves no key behind).
PUSH = """
local id = redis.call('XADD', KEYS[1], '*', 'sweep', ARGV[1], 'worker', ARGV[2], 'item', ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HINCRBY', KEYS[2], 'pushed', 1) end
return id
"""

# KEYS: stream; ARGV: group, prefix, then (entry id, sweep id or '') pairs.
ACK = """
local n = 0
for i = 3, #ARGV, 2 do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    redis.call('XDEL', KEYS[1], ARGV[i])
    local counts = ARGV[2] .. ':sweep:' .. ARGV[i + 1] .. ':counts'
    if ARGV[i + 1] ~= '' and redis.call('EXISTS', counts) == 1 then
      redis.call('HINCRBY', counts, 'ingested', 1)
    end
    n = n + 1
  end
end
return n
"""


# KEYS: lock; ARGV: owner, ttl ms. Keep (1) or lose (0) a lock held by owner.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lock; ARGV: owner. Release a lock only its owner holds.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Scripts:
    """The scripts registered on one client (EVALSHA, loaded on first use)."""

    def __init__(self, client):
        self.pop = client.register_script(POP)
        self.enqueue = client.register_script(ENQUEUE)
        self.requeue = client.register_script(REQUEUE)
        self.drained = client.register_script(DRAINED)
        self.ack = client.register_script(ACK)
        self.push = client.register_script(PUSH)
        self.renew = client.register_script(RENEW)
        self.release = client.register_script(RELEASE)
