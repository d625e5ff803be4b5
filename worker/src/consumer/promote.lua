-- Moves up to ARGV[1] due delayed messages onto the stream; returns
-- {moved, milliseconds until the next one is due or -1}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, msg in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'm', msg)
  redis.call('ZREM', KEYS[2], msg)
end
local nxt = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
local wait = -1
if nxt[2] then wait = math.max(0, tonumber(nxt[2]) - now) end
return {#due, wait}
