-- Shared by the bench's wrk scripts: thread numbering, and the result line bench/loadgen.py reads.

local next_id = 0
local threads = {}

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function open_log(directory, prefix)
   local log = io.open(directory .. "/" .. prefix .. "-" .. id .. ".log", "w")
   log:setvbuf("full")
   return log
end

function done(summary, latency, requests)
   -- Requests handed to wrk (each thread counts its own): those never answered were in flight at the end.
   local issued = 0
   for _, thread in ipairs(threads) do
      issued = issued + (thread:get("counter") or 0)
   end
   local out = {}
   for _, p in ipairs({50, 90, 95, 99, 99.9}) do
      table.insert(out, string.format('"p%s":%d', tostring(p), latency:percentile(p)))
   end
   io.write(string.format(
      'WRK_RESULT {"issued":%d,"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,'
         .. '"write_errors":%d,"status_errors":%d,"timeouts":%d,"max_us":%d,"mean_us":%.1f,%s}\n',
      issued, summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
      summary.errors.write, summary.errors.status, summary.errors.timeout, latency.max, latency.mean,
      table.concat(out, ",")))
end
