"""Every Lua script the service runs in Redis, in one place.

Each script touches keys of one hash slot only (see ``storage.keys``), so it runs unchanged on
one Redis and on a Redis Cluster.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Script:
    """A Lua script and its SHA1 (for ``EVALSHA``)."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


APPEND_EVENTS = Script("""
-- KEYS[1]: stream; KEYS[2]: rejected rec_id counters. Per event i (1-based) of n: KEYS[2+i]
-- dedupe shard of its event_id (a sorted set: id -> epoch seconds accepted), KEYS[2+n+i]
-- A/B "seen" key, KEYS[2+2n+i] A/B counts, KEYS[2+3n+i] trending counts of the event's hour.
-- ARGV[1]: dedupe seconds; ARGV[2]: attribution window seconds; ARGV[3]: JSON array of
-- [fields, event_id ("": none), ab, item, trend, expire_at] where ab is "" (nothing to count),
-- "!" .. reason (a rejected rec_id) or the field of the A/B counts hash to increment once per
-- "seen" key; trend is the weight added to the item's trending count (0: none) and expire_at
-- the epoch second the hour's counts expire. ARGV[4]: items kept per trending hour. ARGV[5]: ids
-- kept per dedupe shard (the newest); ARGV[6]: now, epoch seconds.
-- Returns the 1-based indices of the events that were fresh (not duplicates).
local events = cjson.decode(ARGV[3])
local n = #events
local fresh_ones = {}
local now, dedupe_seconds = tonumber(ARGV[6]), tonumber(ARGV[1])

-- True when `id` was not accepted within the dedupe window (it is remembered now); the shard
-- keeps its newest ARGV[5] ids of that window, so its memory is bounded whatever the traffic.
local function first_time(shard, id)
  if redis.call('ZADD', shard, 'NX', now, id) == 0 then
    if tonumber(redis.call('ZSCORE', shard, id)) > now - dedupe_seconds then
      return false
    end
    redis.call('ZADD', shard, 'XX', now, id)  -- remembered, but from before the window
  end
  redis.call('ZREMRANGEBYSCORE', shard, '-inf', now - dedupe_seconds)
  local extra = redis.call('ZCARD', shard) - tonumber(ARGV[5])
  if extra > 0 then
    redis.call('ZREMRANGEBYRANK', shard, 0, extra - 1)
  end
  redis.call('EXPIRE', shard, dedupe_seconds)
  return true
end

for i = 1, n do
  local event = events[i]
  local fresh = true
  if event[2] ~= '' then
    fresh = first_time(KEYS[2 + i], event[2])
  end
  if fresh then
    redis.call('XADD', KEYS[1], '*', unpack(event[1]))
    local ab = event[3]
    if string.sub(ab, 1, 1) == '!' then
      redis.call('HINCRBY', KEYS[2], string.sub(ab, 2), 1)
    elseif ab ~= '' and redis.call('SET', KEYS[2 + n + i], '1', 'NX', 'EX', ARGV[2]) then
      redis.call('HINCRBY', KEYS[2 + 2 * n + i], ab, 1)
    end
    if event[5] > 0 then
      local trend = KEYS[2 + 3 * n + i]
      redis.call('ZINCRBY', trend, event[5], event[4])
      redis.call('ZREMRANGEBYRANK', trend, 0, -(tonumber(ARGV[4]) + 1))
      redis.call('EXPIREAT', trend, event[6])
    end
    fresh_ones[#fresh_ones + 1] = i
  end
end
return fresh_ones
""")
"""``POST /v1/events``: de-duplicate, append, count A/B events and trending (``storage.events``)."""

RECORD_PUSH = Script("""
-- KEYS[1]: the user's counter for the local date; KEYS[2]: the user's pushed-items sorted set.
-- ARGV: cap, counter ttl, sorted-set ttl, now (epoch s), no-repeat cutoff (epoch s), items...
-- Returns 1 (recorded), 0 (daily cap reached) or -1 (an item was pushed since the cutoff).
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then
  return 0
end
for i = 6, #ARGV do
  local last = redis.call('ZSCORE', KEYS[2], ARGV[i])
  if last and tonumber(last) > tonumber(ARGV[5]) then
    return -1
  end
end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[5])
for i = 6, #ARGV do
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[i])
end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
""")
"""Record a push, re-checking the daily cap and the no-repeat rule atomically
(``storage.push_state``)."""
