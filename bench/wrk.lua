-- wrk script: GET the nearest stations at random Shenzhen positions, or the health baseline;
-- for bench/country.py also the bare app, nearest over China's big cities, and the rider map's
-- requests at zoom 13 over central Shenzhen and central Shanghai.
-- Usage: wrk ... -s bench/wrk.lua http://127.0.0.1:PORT -- SCENARIO [API_KEY]
--   SCENARIO: nearest | health | bare | nearest-country
--             | box-shenzhen | box-shanghai | markers-shenzhen | markers-shanghai
-- (bench/keys.py sends an API key as X-API-Key.)
-- done() prints one "BENCH {json}" line that bench/run.py reads.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_number", #threads)
end

-- Rough centres (WGS-84) of big cities; nearest-country asks within 0.3 degree of one.
local cities = {
  {22.54, 114.06}, {31.23, 121.47}, {39.91, 116.40}, {23.13, 113.26}, {30.57, 104.07},
  {30.59, 114.30}, {34.26, 108.94}, {29.56, 106.55}, {32.06, 118.80}, {30.27, 120.16},
}
local centres = {shenzhen = {22.54, 114.06}, shanghai = {31.23, 121.47}}

function init(args)
  endpoint = args[1] or "nearest"
  headers = {}
  if args[2] and args[2] ~= "" then headers["X-API-Key"] = args[2] end
  math.randomseed(20261127 + thread_number)  -- deterministic, different per thread
end

-- The bbox the rider page asks for at zoom 13 in a 1280 x 720 window: the view (Web Mercator,
-- 256-pixel tiles) made 20 % wider on each side (Leaflet's pad(0.2)), around a centre moved by
-- up to 0.02 degree.
local function zoom13_bbox(centre)
  local lat = centre[1] + (math.random() - 0.5) * 0.04
  local lng = centre[2] + (math.random() - 0.5) * 0.04
  local deg_per_px = 360 / (256 * 2 ^ 13)
  local half_w = 1280 * deg_per_px * 1.4 / 2
  local half_h = 720 * deg_per_px * math.cos(math.rad(lat)) * 1.4 / 2
  return string.format("%.5f,%.5f,%.5f,%.5f", lng - half_w, lat - half_h, lng + half_w, lat + half_h)
end

local function nearest(lat, lng)
  local path = string.format("/api/v1/stations/nearest?lat=%.6f&lng=%.6f&limit=10", lat, lng)
  return wrk.format("GET", path, headers)
end

function request()
  if endpoint == "health" then
    return wrk.format("GET", "/api/v1/health")
  elseif endpoint == "bare" then
    return wrk.format("GET", "/bare")
  elseif endpoint == "nearest-country" then
    local c = cities[math.random(#cities)]
    return nearest(c[1] + (math.random() - 0.5) * 0.6, c[2] + (math.random() - 0.5) * 0.6)
  end
  local kind, city = endpoint:match("^(%a+)-(%a+)$")
  if kind == "box" then
    return wrk.format("GET", "/api/v1/stations?bbox=" .. zoom13_bbox(centres[city]))
  elseif kind == "markers" then
    return wrk.format("GET", "/api/v1/stations?format=geojson&per_page=500&bbox="
      .. zoom13_bbox(centres[city]))
  end
  return nearest(22.45 + math.random() * 0.40, 113.78 + math.random() * 0.77)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "socket_errors": %d, "non_2xx": %d, '
      .. '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max))
end
