"""The multi-key operations of ``RedisStore`` as Lua scripts: each is atomic
and, since all its keys carry the user's hash tag, runs unchanged on a
cluster."""

from __future__ import annotations

from typing import Any

# KEYS: version, bump history. ARGV: now (ms). The new version, and when it was reached.
BUMP = """
local n = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], n, ARGV[1])
return n
"""

# KEYS: jti. ARGV: mark, keep-until. A revocation keeps its first time and is only ever lengthened.
REVOKE = """
local found = redis.call('GET', KEYS[1])
if found and string.sub(found, 1, 1) == 'r' then
  local ttl = redis.call('TTL', KEYS[1])
  local clock = redis.call('TIME')
  if ttl >= 0 and tonumber(clock[1]) + ttl < tonumber(ARGV[2]) then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
return 1
"""

# KEYS: jti. ARGV: mark, keep-until. Nil when this call set the mark, else what was there.
CONSUME = """
local found = redis.call('GET', KEYS[1])
if found then return found end
redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
return false
"""

PRUNE = """
local function prune(entries, expiries, now)
  local gone = redis.call('ZRANGEBYSCORE', expiries, '-inf', now)
  for i = 1, #gone do redis.call('HDEL', entries, gone[i]) end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', expiries, '-inf', now) end
  local last = redis.call('ZRANGE', expiries, -1, -1, 'WITHSCORES')
  if #last > 0 then
    redis.call('EXPIREAT', entries, last[2])
    redis.call('EXPIREAT', expiries, last[2])
  end
end
"""

# KEYS: ended-session mark, registry entries, registry expiries. ARGV: now (ms), keep-until, sid.
END_SESSION = """
local keep = tonumber(ARGV[2])
local listed = redis.call('ZSCORE', KEYS[3], ARGV[3])
if listed and tonumber(listed) > keep then keep = tonumber(listed) end
if redis.call('EXISTS', KEYS[1]) == 1 then
  local ttl = redis.call('TTL', KEYS[1])
  local clock = redis.call('TIME')
  if ttl > 0 and tonumber(clock[1]) + ttl > keep then keep = tonumber(clock[1]) + ttl end
  redis.call('EXPIREAT', KEYS[1], keep)
else
  redis.call('SET', KEYS[1], ARGV[1], 'EXAT', keep)
end
redis.call('HDEL', KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[3])
return 1
"""

# KEYS: registry entries, registry expiries, ended-session mark. ARGV: sid, the entry after its
# creation time (JSON, its leading "[" cut), expiry, now, creation time. An update keeps the
# entry's creation time.
SAVE_SESSION = PRUNE + """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local created = ARGV[5]
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then created = string.match(old, '^%[([^,]*),') or created end
redis.call('HSET', KEYS[1], ARGV[1], '[' .. created .. ',' .. ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
prune(KEYS[1], KEYS[2], ARGV[4])
return 1
"""

# KEYS: registry entries, registry expiries. ARGV: now. Flat: sid, expiry, entry, ...
LIST_SESSIONS = PRUNE + """
prune(KEYS[1], KEYS[2], ARGV[1])
local live = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #live, 2 do
  local entry = redis.call('HGET', KEYS[1], live[i])
  if entry then
    out[#out + 1] = live[i]
    out[#out + 1] = live[i + 1]
    out[#out + 1] = entry
  end
end
return out
"""

# KEYS: registry entries, registry expiries. ARGV: sid.
FORGET_SESSION = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


class Scripts:
    """The scripts, registered on ``client`` (EVALSHA, reloaded after a
    restart or a failover by redis-py itself)."""

    def __init__(self, client: Any) -> None:
        self.bump = client.register_script(BUMP)
        self.revoke = client.register_script(REVOKE)
        self.consume = client.register_script(CONSUME)
        self.end_session = client.register_script(END_SESSION)
        self.save_session = client.register_script(SAVE_SESSION)
        self.list_sessions = client.register_script(LIST_SESSIONS)
        self.forget_session = client.register_script(FORGET_SESSION)

