-- Gives entries a consumer fetched but never started back to the group as
-- fresh entries, at once, if that consumer still owns them.
local n = 0
for i = 3, #ARGV, 2 do
  local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #owned == 1 then
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
    redis.call('XDEL', KEYS[1], ARGV[i])
    redis.call('XADD', KEYS[1], '*', 'm', ARGV[i + 1])
    n = n + 1
  end
end
return n
