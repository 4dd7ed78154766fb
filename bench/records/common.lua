-- bench/records/common.lua - what every records script shares (loaded with dofile).
-- done() prints the WRKRESULT line of ../../shared/bench/peers/bench.lua (and
-- bench/db.py), plus, when the script counts statuses, the 201s and the other answers.

local M = {}

-- the lines of a file, as a table (the ids, the JSON bodies)
function M.lines(path)
  local t = {}
  for line in io.lines(path) do
    if line ~= "" then
      t[#t + 1] = line
    end
  end
  return t
end

-- the scripts' directory, to find this file from the others
function M.dir()
  return debug.getinfo(2, "S").source:match("^@(.*/)") or "./"
end

local threads = {}

function M.setup(thread)
  threads[#threads + 1] = thread
end

function M.done(summary, latency, requests)
  local e = summary.errors
  local created, other = 0, 0
  for _, t in ipairs(threads) do
    created = created + (t:get("created") or 0)
    other = other + (t:get("other") or 0)
  end
  io.write(string.format(
    "WRKRESULT requests=%d duration_us=%d bytes=%d p50_us=%d p90_us=%d p99_us=%d mean_us=%.1f max_us=%d " ..
    "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d lat_fix=0 " ..
    "created=%d other=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, created, other))
end

return M
