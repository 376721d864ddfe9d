-- wrk script for the benchmark (scripts/bench/load.py): POST pre-built JSON bodies, print one JSON result line.
-- The bodies file (BENCH_WRK_BODIES) is written at run time and defines `bodies = {...}` and
-- `headers = {...}`.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("first", counter)
  table.insert(threads, thread)
end

local prepared = {}
local index = 0

function init(args)
  dofile(os.getenv("BENCH_WRK_BODIES"))
  local request_headers = {["Content-Type"] = "application/json"}
  for name, value in pairs(headers or {}) do
    request_headers[name] = value
  end
  -- Formatting every request once here keeps the generator's work per request to a table lookup.
  for i, body in ipairs(bodies) do
    prepared[i] = wrk.format("POST", nil, request_headers, body)
  end
  -- Each thread starts at its own place in the list, so threads do not send the same sequence.
  index = ((first or 1) - 1) * 7919 % #prepared
end

function request()
  index = index % #prepared + 1
  return prepared[index]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p95": %d, ' ..
    '"p99": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99)))
end
