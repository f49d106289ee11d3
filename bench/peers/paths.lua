-- wrk script for bench/proxy-vs-peers: cycles through a fixed set of distinct
-- request paths (so a hashing proxy spreads them over every backend) and, when
-- done, prints one machine-readable RESULT line.
--
--   wrk -t1 -c64 -d10s -s paths.lua http://127.0.0.1:PORT -- [PATH_COUNT]

local requests = {}
local count = 0
local nextIndex = 0

function init(args)
  count = tonumber(args[1] or "10000")
  -- Built once per thread: formatting a request on every call would make wrk,
  -- not the proxy, the bottleneck.
  for i = 1, count do
    requests[i] = wrk.format("GET", string.format("/bench/item/%05d", i - 1))
  end
end

function request()
  nextIndex = nextIndex % count + 1
  return requests[nextIndex]
end

function done(summary, latency, _)
  local e = summary.errors
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_us=%d p99_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
