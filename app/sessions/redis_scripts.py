"""The Redis store's Lua scripts: each is one atomic step of its protocol (app/sessions/
redis_store.py calls them and documents the keys). Kept apart from the Python only for size:
a change to a script's KEYS or ARGV changes its caller in the same commit.

A session is two keys: ``s:{id}``, a hash ``{d: the core (snapshot without the history),
v: version, g: the history's generation}``, and ``h:{id}``, the loss history as fixed-width
rows (app/sessions/snapshot.py), appended by a save that only added rows and rewritten (with
a new generation) by one that changed earlier rows (a compaction, an undo, a reset).
"""

from __future__ import annotations

# Redis's clock in microseconds (exact in a double until the year 2255).
_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""

# The memory budget: ``bytes`` (a hash id → estimated resident bytes) and ``total`` (their
# sum), kept in step with ``lru`` by every script below.
_BYTES = """
local function forget(id, bytes_key, total_key)
  local b = redis.call('HGET', bytes_key, id)
  if b then
    redis.call('DECRBY', total_key, b)
    redis.call('HDEL', bytes_key, id)
  end
end
local function expire_old(lru, bytes_key, total_key, cutoff)
  local old = redis.call('ZRANGEBYSCORE', lru, '-inf', cutoff)
  for i = 1, #old do forget(old[i], bytes_key, total_key) end
  redis.call('ZREMRANGEBYSCORE', lru, '-inf', cutoff)
end
-- the budget keys live as long as the last session touched (every key expires)
local function touch_budget(bytes_key, total_key, ttl_ms)
  redis.call('PEXPIRE', bytes_key, ttl_ms)
  redis.call('PEXPIRE', total_key, ttl_ms)
end
"""

# What a reader gets when its copy is not current: {version, core, generation, the history
# rows from byte ``off`` on, off}. ``off`` is the reader's own row bytes when it holds the
# same generation (it already has those rows), else 0 (all of them).
_READ = """
local function read(s_key, h_key, known_g, known_off)
  local d, v, g = unpack(redis.call('HMGET', s_key, 'd', 'v', 'g'))
  local off = 0
  if g and g == known_g then off = tonumber(known_off) end
  return {v, d, g or '', redis.call('GETRANGE', h_key, off, -1), off}
end
"""

# KEYS: s:{id}, lru, bytes, total, h:{id}. ARGV: core, version, ttl_ms, id, cap, key prefix,
# bytes, memory budget, active_window µs, history rows, generation. Evicts the least recently
# used sessions that are neither in use (no lock key) nor active (used within active_window)
# while the cap or the budget is exceeded. Returns {1, evicted ids…}; {'full', µs to wait}
# when the cap is reached by active sessions; {0} when the session does not fit the budget
# even so (nothing written then).
ADD = _NOW + _BYTES + """
expire_old(KEYS[2], KEYS[3], KEYS[4], now - 1000 * tonumber(ARGV[3]))
local need, budget, cap = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[5])
local window = tonumber(ARGV[9])
local function total() return tonumber(redis.call('GET', KEYS[4]) or '0') end
local function over_cap() return redis.call('ZCARD', KEYS[2]) + 1 > cap end
local function over() return over_cap() or total() + need > budget end
local evicted = {1}
if over() then
  local ids = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  for i = 1, #ids, 2 do
    if not over() then break end
    local sid, used = ids[i], tonumber(ids[i + 1])
    if window > 0 and used + window > now then break end  -- LRU order: the rest are newer
    if sid ~= ARGV[4] and redis.call('EXISTS', ARGV[6] .. 'lock:' .. sid) == 0 then
      redis.call('DEL', ARGV[6] .. 's:' .. sid, ARGV[6] .. 'h:' .. sid)
      redis.call('ZREM', KEYS[2], sid)
      forget(sid, KEYS[3], KEYS[4])
      evicted[#evicted + 1] = sid
    end
  end
  if over_cap() then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    local wait = tonumber(oldest[2]) + window - now
    if wait < 1000000 then wait = 1000000 end
    return {'full', tostring(wait)}
  end
  if total() + need > budget then return {0} end
end
redis.call('HSET', KEYS[1], 'd', ARGV[1], 'v', ARGV[2], 'g', ARGV[11])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[5], ARGV[10], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], now, ARGV[4])
forget(ARGV[4], KEYS[3], KEYS[4])
redis.call('HSET', KEYS[3], ARGV[4], need)
redis.call('INCRBY', KEYS[4], need)
touch_budget(KEYS[3], KEYS[4], ARGV[3])
return evicted
"""

# KEYS: s:{id}, lru, lock:{id}, bytes, total, h:{id}. ARGV: ttl_ms, id, cached version, lock
# token (or ''), lock_ms, known generation, known row bytes. With a token, first takes the
# lock (0: it is taken). Touches the session and returns {version} when the cached version is
# current, read()'s reply otherwise, nil if it is gone.
LOAD = _NOW + _BYTES + _READ + """
if ARGV[4] ~= '' and not redis.call('SET', KEYS[3], ARGV[4], 'NX', 'PX', ARGV[5]) then
  return 0
end
local v = redis.call('HGET', KEYS[1], 'v')
if not v then
  if ARGV[4] ~= '' then redis.call('DEL', KEYS[3]) end
  redis.call('ZREM', KEYS[2], ARGV[2])
  forget(ARGV[2], KEYS[4], KEYS[5])
  return false
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[6], ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[2])
touch_budget(KEYS[4], KEYS[5], ARGV[1])
if v == ARGV[3] then return {v} end
return read(KEYS[1], KEYS[6], ARGV[6], ARGV[7])
"""

# KEYS: lock:{id}, s:{id}, lru, bytes, total, saved:{id}, h:{id}. ARGV: token, core, version,
# ttl_ms, id, bytes, receipts, history rows, generation, the history's length in bytes before
# them ('' when the rows replace the whole history). -1: the lock is no longer ours (nothing
# written); -2: the stored history is not as long as the caller believed (nothing written, the
# lock kept: it rewrites the whole history); 0: the session was deleted or evicted meanwhile
# (it stays deleted); 1: saved, and the lock's token goes on the session's receipts (the last
# RECEIPTS tokens that saved it), so a caller whose reply was lost can learn that it was
# saved (SETTLE).
SAVE = _NOW + _BYTES + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if ARGV[10] ~= '' and (redis.call('STRLEN', KEYS[7]) ~= tonumber(ARGV[10])
    or redis.call('HGET', KEYS[2], 'g') ~= ARGV[9]) then
  if redis.call('EXISTS', KEYS[2]) == 1 then return -2 end
end
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'd', ARGV[2], 'v', ARGV[3], 'g', ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if ARGV[10] == '' then
  redis.call('SET', KEYS[7], ARGV[8])
elseif ARGV[8] ~= '' then
  redis.call('APPEND', KEYS[7], ARGV[8])
end
redis.call('PEXPIRE', KEYS[7], ARGV[4])
redis.call('ZADD', KEYS[3], now, ARGV[5])
forget(ARGV[5], KEYS[4], KEYS[5])
redis.call('HSET', KEYS[4], ARGV[5], ARGV[6])
redis.call('INCRBY', KEYS[5], ARGV[6])
touch_budget(KEYS[4], KEYS[5], ARGV[4])
redis.call('LPUSH', KEYS[6], ARGV[1])
redis.call('LTRIM', KEYS[6], 0, tonumber(ARGV[7]) - 1)
redis.call('PEXPIRE', KEYS[6], ARGV[4])
return 1
"""

# KEYS: saved:{id}, lock:{id}. ARGV: token. Settles a save whose reply was lost (a timeout, a
# dropped connection, a retried script that found its own lock gone): 1 if that token saved the
# session; else 0, and the lock is released if still ours, so a save still in flight can never
# apply later (it checks the token first): 0 means "not saved, and never will be".
SETTLE = """
for _, t in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if t == ARGV[1] then return 1 end
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 0
"""
RECEIPTS = 64  # tokens kept per session: more saves than this within one lost reply: unknown

# KEYS: s:{id}, h:{id}. ARGV: known version, known generation, known row bytes. What a
# watcher reads, without touching the session (it expires when its owner leaves it idle):
# {version} when ``known`` is current, read()'s reply otherwise, nil if it is gone.
PEEK = _READ + """
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return false end
if v == ARGV[1] then return {v} end
return read(KEYS[1], KEYS[2], ARGV[2], ARGV[3])
"""

# KEYS: lock:{id}. ARGV: token.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: lru, bytes, total. ARGV: ttl_ms. Forgets ids whose keys expired, then counts.
COUNT = _NOW + _BYTES + """
expire_old(KEYS[1], KEYS[2], KEYS[3], now - 1000 * tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1])
"""

# KEYS: s:{id}, lru, bytes, total, h:{id}. ARGV: id. 1 if it existed.
DELETE = _BYTES + """
local n = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[5])
redis.call('ZREM', KEYS[2], ARGV[1])
forget(ARGV[1], KEYS[3], KEYS[4])
return n
"""

SCRIPTS = {"add": ADD, "load": LOAD, "save": SAVE, "release": RELEASE, "count": COUNT,
           "delete": DELETE, "settle": SETTLE, "peek": PEEK}
