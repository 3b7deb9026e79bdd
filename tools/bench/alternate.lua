-- kbal bench `two-rules`: every connection alternates GET /api/x and GET /
-- (the proxies route /api/ to member 1 only, the rest to member 2 only), and
-- every response is checked against the member its path belongs to: a body
-- other than "backend=WAS1 path=/api/..." or "backend=WAS2 path=<not /api/>"
-- (kbal-backend's answer; tools/bench.py names the members WAS1 and WAS2)
-- counts as misrouted, unless KBAL_BENCH_CHECK_ROUTE=0 (the baselines, which
-- cannot route by path). report.lua prints the figures, misrouted included.
--
-- wrk's Lua has no handle on the connection, so the alternation is kept
-- through the order of events: a connection's next request is written in
-- the event-loop turn after its response completed, in the order the
-- responses completed; response() queues the other path, request() takes
-- the oldest queued one (a connection without a queued path, such as a new
-- one, gets the next of a global toggle).

local paths = { "/api/x", "/" }
local reqs = {}
local queue, head, tail, flip = {}, 1, 0, 1
local check = os.getenv("KBAL_BENCH_CHECK_ROUTE") ~= "0"
kbal_misrouted = 0

function init(args)
   for _, p in ipairs(paths) do
      reqs[p] = wrk.format(nil, p)
   end
end

function request()
   local p
   if head <= tail then
      p = queue[head]
      queue[head] = nil
      head = head + 1
   else
      p = paths[flip]
      flip = 3 - flip
   end
   return reqs[p]
end

function response(status, headers, body)
   local name, path = string.match(body or "", "^backend=(%S+) path=(%S+)")
   local api = path ~= nil and path:sub(1, 5) == "/api/"
   if path then
      tail = tail + 1
      queue[tail] = api and paths[2] or paths[1]
   end
   if check and (not path or name ~= (api and "WAS1" or "WAS2")) then
      kbal_misrouted = kbal_misrouted + 1
   end
end

-- one request as wrk sends it, for report.lua: the mean of the two
function kbal_request_bytes()
   return (#wrk.format(nil, paths[1]) + #wrk.format(nil, paths[2])) / 2
end

dofile(os.getenv("KBAL_BENCH_LUA") .. "/report.lua")
