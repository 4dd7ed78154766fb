-- bench/records/create.lua - POST a new record per request; counts the 201s.
-- Usage: wrk ... -s create.lua http://HOST:PORT -- AUTHOR_IDS_FILE [PATH]
-- Each body is a post with a random author of the seeded set, votes and status
-- (the id is the server's).
local C = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
local authors, path, n = {}, nil, 0
local hdrs = { ["Content-Type"] = "application/json" }
created, other = 0, 0

setup = C.setup
done = C.done

init = function(args)
  authors = C.lines(args[1])
  path = args[2] or "/api/v1/collections/posts/records"
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
end

request = function()
  n = n + 1
  local body = string.format(
    '{"title":"created by wrk %d","body":"A post made during the create benchmark, ' ..
    'a few words long like the seeded ones.","votes":%d,"status":"%s","author":"%s"}',
    n, math.random(0, 99), math.random(2) == 1 and "published" or "draft",
    authors[math.random(#authors)])
  return wrk.format("POST", path, hdrs, body)
end

response = function(status, headers, body)
  if status == 201 then
    created = created + 1
  else
    other = other + 1
    if other <= 3 then
      io.stderr:write("create: status " .. status .. ": " .. body:sub(1, 300) .. "\n")
    end
  end
end
