-- wrk script: guests joining queues. Every request is a new guest: its own idempotency key (ending in the
-- restaurant's slug, and carried in the name too, which the answer echoes, so that a response can be tied
-- to its request), its own mobile number and, behind the trusted proxy that the load generator plays, its
-- own client address.
--
-- wrk -s join.lua URL -- <restaurants> <run number 0-49> <log directory> <prefix> <first restaurant>
-- Restaurants are slugs r<first> .. r<first + restaurants - 1>; with 1 restaurant every guest scans the same
-- QR code.

dofile(debug.getinfo(1, "S").source:match("@(.*/)") .. "common.lua")

-- Leading digits of UK mobile ranges that are valid whole (+44 7X XXXX XXXX).
local valid_digits = {"1", "3", "4", "5", "8"}

function init(args)
   restaurants = tonumber(args[1])
   run = tonumber(args[2])
   prefix = args[4]
   first = tonumber(args[5] or "1")
   counter = 0
   log = open_log(args[3], prefix)
   mobile_head = "+447" .. valid_digits[math.floor(run / 10) + 1] .. tostring(run % 10) .. tostring(id % 10)
   math.randomseed(run * 1000 + id)
end

function request()
   counter = counter + 1
   local r = first + math.random(0, restaurants - 1)
   local key = prefix .. "-" .. id .. "-" .. counter .. "-r" .. r
   local slug = "r" .. r
   local body = '{"name":"G ' .. key .. '","mobileNumber":"' .. mobile_head .. string.format("%06d", counter)
      .. '","partySize":' .. (counter % 6 + 1) .. ',"idempotencyKey":"' .. key .. '"}'
   local headers = {
      ["Content-Type"] = "application/json",
      -- 198.18.0.0/15: the range set aside for benchmarks (RFC 2544); only ever a header here.
      ["X-Forwarded-For"] = "198." .. (18 + id % 2) .. "." .. math.floor(counter / 250) % 250 .. "."
         .. counter % 250,
   }
   return wrk.format("POST", "/api/public/" .. slug .. "/queue", headers, body)
end

function response(status, headers, body)
   local entry, token, key = "-", "-", "-"
   if status == 200 or status == 201 then
      entry = string.match(body, '"id":"([^"]+)"') or "-"
      token = string.match(body, '"tokenNumber":(%d+)') or "-"
      key = string.match(body, '"name":"G ([^"]+)"') or "-"
   end
   log:write(status, " ", entry, " ", token, " ", key, "\n")
end
