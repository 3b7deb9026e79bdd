-- kbal bench: wrk's done() hook, printing exact figures as one line that
-- tools/bench.py parses (wrk's own text output is rounded).
-- Latencies are in microseconds, duration too; bytes are bytes read
-- (response heads and bodies); request_bytes is one request as wrk sends it.
-- A script that loads this one may count responses from the wrong member in
-- its threads' global kbal_misrouted (err_misrouted, summed over the
-- threads), and define kbal_request_bytes() when its requests differ from
-- wrk.format()'s.
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function done(summary, latency, requests)
   local e = summary.errors
   -- wrk adds Host in each thread's init(); this is the main state
   if not wrk.headers["Host"] then
      wrk.headers["Host"] = wrk.port and (wrk.host .. ":" .. wrk.port) or wrk.host
   end
   local reqlen = kbal_request_bytes and math.floor(kbal_request_bytes() + 0.5)
      or #wrk.format()
   local misrouted = 0
   for _, t in ipairs(threads) do
      misrouted = misrouted + (t:get("kbal_misrouted") or 0)
   end
   io.write(string.format(
      'KBAL_BENCH {"requests":%d,"duration_us":%d,"bytes_read":%d,' ..
      '"request_bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"mean_us":%.1f,"max_us":%d,"err_connect":%d,"err_read":%d,' ..
      '"err_write":%d,"err_status":%d,"err_timeout":%d,"err_misrouted":%d}\n',
      summary.requests, summary.duration, summary.bytes, reqlen,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max, e.connect, e.read, e.write, e.status,
      e.timeout, misrouted))
end
