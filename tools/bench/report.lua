-- kbal bench: wrk's done() hook, printing exact figures as one line that
-- tools/bench.py parses (wrk's own text output is rounded).
-- Latencies are in microseconds, duration too; bytes are bytes read
-- (response heads and bodies); request_bytes is one request as wrk sends it.
function done(summary, latency, requests)
   local e = summary.errors
   -- wrk adds Host in each thread's init(); this is the main state
   if not wrk.headers["Host"] then
      wrk.headers["Host"] = wrk.port and (wrk.host .. ":" .. wrk.port) or wrk.host
   end
   local reqlen = #wrk.format()
   io.write(string.format(
      'KBAL_BENCH {"requests":%d,"duration_us":%d,"bytes_read":%d,' ..
      '"request_bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"mean_us":%.1f,"max_us":%d,"err_connect":%d,"err_read":%d,' ..
      '"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
      summary.requests, summary.duration, summary.bytes, reqlen,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max, e.connect, e.read, e.write, e.status,
      e.timeout))
end
