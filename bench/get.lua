-- wrk script: GET a path (with the admin token if given) and report latency percentiles.
local token = os.getenv("PAREDAO_ADMIN_TOKEN")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  other = 0
  if token then wrk.headers["Authorization"] = "Bearer " .. token end
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local total_ok, total_other = 0, 0
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_other = total_other + thread:get("other")
  end
  io.write(string.format("RESULT ok=%d other=%d requests=%d duration_s=%.3f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    total_ok, total_other, summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
