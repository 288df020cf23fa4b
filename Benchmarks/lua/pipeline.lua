-- HTTP/1.1 pipelining for wrk: every write carries `depth` requests back to back (default 16).
--
--   wrk -s Benchmarks/lua/pipeline.lua URL -- [depth]
--
-- This is wrk's own scripts/pipeline.lua approach: `request()` returns one buffer holding `depth` requests built
-- with wrk.format(). wrk parses that buffer once at start-up, sees `depth` requests in it, and then expects
-- `depth` responses per write; it counts every response as one request (so "N requests" and Requests/sec are
-- real responses, 16 per batch) and records one latency sample per batch (write to last response).

local depth = 16
local batch

init = function(args)
   if args[1] ~= nil then depth = tonumber(args[1]) end
   local requests = {}
   for i = 1, depth do
      requests[i] = wrk.format(nil, wrk.path)
   end
   batch = table.concat(requests)
end

request = function()
   return batch
end
