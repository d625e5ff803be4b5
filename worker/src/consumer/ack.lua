-- Acknowledges and deletes finished entries and drops their index entry
-- unless a newer delivery of the job replaced it.
for i = 2, #ARGV, 3 do
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
  if ARGV[i + 1] ~= '' and redis.call('HGET', KEYS[2], ARGV[i + 1]) == ARGV[i + 2] then
    redis.call('HDEL', KEYS[2], ARGV[i + 1])
  end
end
return (#ARGV - 1) / 3
