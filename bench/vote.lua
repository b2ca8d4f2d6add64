-- wrk script: POST a voto da torcida with a distinct voter_id per request, and count answers.
-- Environment: PAREDAO_ID, NOMINEES (comma-separated candidate ids), and VOTE_BUDGET: if set,
-- each thread sends that many votes and then only cheap GETs, so that every vote is answered
-- before wrk stops (for an exact stored = acknowledged check). DELAY_MS: each connection waits
-- that long before each request, so the load runs at a rate below the server's top.
sent = 0
thread_id = 0  -- set per thread by setup()
local budget = tonumber(os.getenv("VOTE_BUDGET") or "0")
local run = tonumber(os.getenv("RUN_ID") or "0")
local threads = {}
local paredao = os.getenv("PAREDAO_ID") or "1"
local nominees = {}
for id in string.gmatch(os.getenv("NOMINEES") or "1,2", "[^,]+") do
  table.insert(nominees, id)
end

local pause = tonumber(os.getenv("DELAY_MS") or "0")
if pause > 0 then
  function delay()
    return pause
  end
end

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  accepted = 0
  other = 0
end

function request()
  if budget > 0 and sent >= budget then
    return wrk.format("GET", "/paredoes/" .. paredao)
  end
  sent = sent + 1
  local nominee = nominees[(sent % #nominees) + 1]
  -- A time-ordered vote_id (UUIDv7 layout: counter first), as the vote page sends: if wrk
  -- resends a request after a broken connection, the vote still counts once.
  local vote_id = string.format("%08x-%04x-7%03x-8000-%012x",
    math.floor(sent / 65536), sent % 65536, thread_id, run)
  local body = string.format(
    '{"nominee_id": %s, "mode": "torcida", "voter_id": "bench-%d-%d-%d", "vote_id": "%s"}',
    nominee, run, thread_id, sent, vote_id)
  return wrk.format("POST", "/paredoes/" .. paredao .. "/votes",
    {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  elseif status ~= 200 then  -- 200 answers the GETs after the budget
    other = other + 1
  end
end

function done(summary, latency, requests)
  local total_accepted, total_other, total_sent = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_accepted = total_accepted + thread:get("accepted")
    total_other = total_other + thread:get("other")
    total_sent = total_sent + thread:get("sent")
  end
  io.write(string.format("RESULT sent=%d accepted=%d other=%d requests=%d duration_s=%.3f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    total_sent, total_accepted, total_other, summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
