-- wrk script for one benchmark scenario. The method and Cookie header come from the
-- environment (BENCH_METHOD, BENCH_COOKIE), so cookie text never passes through a shell.
-- done() prints one JSON line that bench/lib/wrk.mjs reads; latencies are in microseconds.

local method = os.getenv("BENCH_METHOD")
if method ~= nil and method ~= "" then
  wrk.method = method
end

local cookie = os.getenv("BENCH_COOKIE")
if cookie ~= nil and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end

-- BENCH_COOKIE_FILE: one Cookie header per line, sent in turn, one per request (many
-- sessions instead of one). Requests are formatted once, in init (where wrk has set the
-- host and path): wrk.format per request would cost the generator more than the server.
local cookieFile = os.getenv("BENCH_COOKIE_FILE")
if cookieFile ~= nil and cookieFile ~= "" then
  local prepared = {}
  local next = 0
  init = function(args)
    for line in io.lines(cookieFile) do
      wrk.headers["Cookie"] = line
      prepared[#prepared + 1] = wrk.format()
    end
  end
  request = function()
    next = next % #prepared + 1
    return prepared[next]
  end
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_WRK {"requests":%d,"durationUs":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"mean":%.1f,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end
