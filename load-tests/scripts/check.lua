-- wrk script for the single-check hot path: GET /v1/stores/{store}/subjects/{subject}/decisions
-- Subjects are drawn from a Zipf-like (bounded Pareto, s = LT_ZIPF_S) distribution over LT_SUBJECTS ids;
-- rank r maps to subject index ((r - 1) * 7919) mod N and store index mod LT_STORES, exactly as
-- ShopAstro.LoadTests' KeySpace does, so the hot set matches the subjects the harness preloaded.
local N = tonumber(os.getenv("LT_SUBJECTS") or "1000000")
local STORES = tonumber(os.getenv("LT_STORES") or "100")
local S = tonumber(os.getenv("LT_ZIPF_S") or "1.1")
local TOKEN = os.getenv("LT_TOKEN") or ""
local STRIDE = 7919
local A = N ^ (1 - S) - 1
local E = 1 / (1 - S)
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("tid", counter)
end

function init(args)
  math.randomseed(os.time() + (tid or 0) * 7717)
  for _ = 1, 10 do math.random() end
  wrk.headers["Authorization"] = "Bearer " .. TOKEN
end

function request()
  local rank = math.floor((A * math.random() + 1) ^ E)
  if rank < 1 then rank = 1 elseif rank > N then rank = N end
  local idx = ((rank - 1) * STRIDE) % N
  return wrk.format("GET", "/v1/stores/s" .. (idx % STORES) .. "/subjects/u" .. idx .. "/decisions?purpose=analytics&purpose=cart")
end

-- Latencies are in microseconds (wrk keeps them in an HdrHistogram).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "LT_RESULT requests=%d duration_us=%d bytes=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d p50=%d p90=%d p99=%d p999=%d max=%d mean=%.1f\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
