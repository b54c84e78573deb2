-- wrk script: staff pressing call-next at random restaurants among <restaurants> (1 or 1000) from <first>,
-- each with its restaurant's staff token; several connections share each restaurant.
--
-- wrk -s call_next.lua URL -- <restaurants> <run number> <log directory> <prefix> <first restaurant>

dofile(debug.getinfo(1, "S").source:match("@(.*/)") .. "common.lua")

function init(args)
   restaurants = tonumber(args[1])
   math.randomseed(tonumber(args[2]) * 1000 + id)
   log = open_log(args[3], args[4])
   first = tonumber(args[5] or "1")
   counter = 0
end

function request()
   counter = counter + 1
   local r = first + math.random(0, restaurants - 1)
   local path = string.format("/api/admin/00000000-0000-4000-8000-%012d/queue/call-next", r)
   return wrk.format("POST", path, {["Authorization"] = "Bearer wl_bench_" .. r})
end

function response(status, headers, body)
   local entry, token = "-", "-"
   if status == 200 then
      entry = string.match(body, '"id":"([^"]+)"') or "-"
      token = string.match(body, '"tokenNumber":(%d+)') or "-"
   end
   log:write(status, " ", entry, " ", token, " -\n")
end
