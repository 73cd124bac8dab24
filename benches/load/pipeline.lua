-- wrk script: send `depth` requests per write (HTTP/1.1 pipelining), TechEmpower style.
-- usage: wrk -s pipeline.lua URL -- 16
local depth = 16

init = function(args)
  if args[1] ~= nil then depth = tonumber(args[1]) end
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format(nil)
  end
  req = table.concat(r)
end

request = function()
  return req
end
