-- Renews the lease of entries a consumer runs: resets their idle time, but
-- only of those it still owns. An entry another consumer took over after the
-- lease ran out, or one acknowledged meanwhile, is left alone.
-- KEYS[1] stream; ARGV[1] group, ARGV[2] consumer, ARGV[3..] entry ids.
-- Returns the ids the consumer no longer owns.
local lost = {}
for i = 3, #ARGV do
  local owned = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #owned == 1 then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
