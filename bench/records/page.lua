-- bench/records/page.lua - the same GET every request (the URL's path and query: the
-- filtered, sorted page); wrk sends its static request, this script only reports.
local C = dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")
setup = C.setup
done = C.done
