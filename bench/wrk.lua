-- wrk script: GET the nearest stations at random Shenzhen positions, or the health baseline.
-- Usage: wrk ... -s bench/wrk.lua http://127.0.0.1:PORT -- nearest|health [API_KEY]
-- (bench/keys.py sends an API key as X-API-Key.)
-- done() prints one "BENCH {json}" line that bench/run.py reads.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

function init(args)
  endpoint = args[1] or "nearest"
  headers = {}
  if args[2] and args[2] ~= "" then headers["X-API-Key"] = args[2] end
  math.randomseed(20261127 + thread_number)  -- deterministic, different per thread
end

function request()
  if endpoint == "health" then
    return wrk.format("GET", "/api/v1/health")
  end
  local lat = 22.45 + math.random() * 0.40
  local lng = 113.78 + math.random() * 0.77
  local path = string.format("/api/v1/stations/nearest?lat=%.6f&lng=%.6f&limit=10", lat, lng)
  return wrk.format("GET", path, headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "socket_errors": %d, "non_2xx": %d, '
      .. '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
