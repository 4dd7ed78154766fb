-- bench/records/get.lua - GET one record by id, a random one of the seeded set per request.
-- Usage: wrk ... -s get.lua http://HOST:PORT -- IDS_FILE [PATH_PREFIX]
--   IDS_FILE     one record id a line
--   PATH_PREFIX  default /api/v1/collections/posts/records/
local C = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local reqs = {}

setup = C.setup
done = C.done

init = function(args)
  local prefix = args[2] or "/api/v1/collections/posts/records/"
  -- the requests are formatted once, so each request costs wrk one table lookup
  for _, id in ipairs(C.lines(args[1])) do
    reqs[#reqs + 1] = wrk.format("GET", prefix .. id)
  end
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end

request = function()
  return reqs[math.random(#reqs)]
end
