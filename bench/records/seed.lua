-- bench/records/seed.lua - POST each line of a file once (a JSON body: a record with its id).
-- Run it with one thread (-t1) and a -d longer than the seeding can take.
-- Usage: wrk -t1 -cN -dLONG -s seed.lua http://HOST:PORT -- BODIES_FILE PATH DONE_FILE
-- Once every body is sent, the connections still waiting for work send GET /health/live
-- (not counted). When every POST is answered the thread stops and DONE_FILE is made:
-- bench/records.py then interrupts wrk (SIGINT, as ^C does, repeated until wrk ends, since
-- one that comes before wrk's main thread waits is lost), so done() reports the seeding.
local C = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local bodies, path, marker, i, fillers, stopping = {}, nil, nil, 0, 0, false
local verified = false
local hdrs = { ["Content-Type"] = "application/json" }
local filler
created, other = 0, 0

setup = C.setup
done = C.done

init = function(args)
  bodies = C.lines(args[1])
  path = args[2]
  marker = args[3]
  filler = wrk.format("GET", "/health/live")
end

request = function()
  if not verified then -- wrk calls request() once to check it before connecting
    verified = true
    return filler
  end
  if i < #bodies then
    i = i + 1
    return wrk.format("POST", path, hdrs, bodies[i])
  end
  return filler
end

response = function(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status ~= 200 then
    other = other + 1
    if other <= 3 then
      io.stderr:write("seed: status " .. status .. ": " .. body:sub(1, 300) .. "\n")
    end
  end
  if status == 200 then
    fillers = fillers + 1
  end
  -- every POST answered; or answers lost (a broken connection): stop rather than wait
  if (created + other >= #bodies or fillers > 100000) and not stopping then
    stopping = true
    wrk.thread:stop()
    local f = io.open(marker, "w")
    f:write(created, " ", other, "\n")
    f:close()
  end
end
