-- Pushes messages, each at most once per (job, delivery), onto the stream or,
-- when delayed, into the delayed set. Due times use the Redis clock so the
-- producers' clocks do not matter.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local pushed = 0
for i = 1, #ARGV, 4 do
  local job, delivery, delay, msg = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  if redis.call('HGET', KEYS[3], job) ~= delivery then
    redis.call('HSET', KEYS[3], job, delivery)
    if delay > 0 then
      redis.call('ZADD', KEYS[2], now + delay, msg)
    else
      redis.call('XADD', KEYS[1], '*', 'm', msg)
    end
    pushed = pushed + 1
  end
end
return pushed
