-- wrk script for one benchmark scenario. The method and Cookie header come from the
-- environment (BENCH_METHOD, BENCH_COOKIE), so cookie text never passes through a shell.
-- BENCH_COOKIE_FILE instead names a file of Cookie headers, one a line, sent in turn.
-- done() prints one JSON line that bench/lib/wrk.mjs reads; latencies are in microseconds.

local method = os.getenv("BENCH_METHOD")
if method ~= nil and method ~= "" then
  wrk.method = method
end

local cookie = os.getenv("BENCH_COOKIE")
if cookie ~= nil and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end

local cookieFile = os.getenv("BENCH_COOKIE_FILE")
if cookieFile ~= nil and cookieFile ~= "" then
  local prepared = {}
  local next = 0
  -- Formatted once, in init (wrk calls it once it has set the Host header): request()
  -- then only hands out the next prepared request.
  init = function(args)
    for line in io.lines(cookieFile) do
      if line ~= "" then
        prepared[#prepared + 1] = wrk.format(nil, nil, { Cookie = line })
      end
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
