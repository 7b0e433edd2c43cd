-- wrk script of the benchmark: POSTs a body rotating over many citizens, optionally with a unique
-- Idempotency-Key per request, optionally paced, optionally stopping after a number of responses.
-- Configured by environment variables (set by bench/_wrk.py):
--   BENCH_PATH         request path
--   BENCH_BODIES       file with one request body per line
--   BENCH_HEADERS      file with one "Name: value" header per line (may be empty)
--   BENCH_IDEMPOTENCY  "1": a unique Idempotency-Key header on every request
--   BENCH_RUN          a string unique to this run, prefix of the keys
--   BENCH_INSPECT      "1": count answers whose body says "status":"completed"
--   BENCH_MAX          stop each thread after this many responses (0: run for the duration) and create the
--                      file BENCH_DONE_FILE: wrk's main thread sleeps for the whole duration, so the driver
--                      watches for that file and ends wrk with SIGINT
--   BENCH_DELAY_MS     mean pause of each connection before each request (0: as fast as answered); the pauses
--                      are random, exponentially distributed, so that connections arrive independently as
--                      counters do: a fixed pause keeps every connection in lock-step, arriving all at once
-- done() prints one line "BENCH_JSON {...}" with the figures the driver reads.

local path = os.getenv("BENCH_PATH") or "/"
local idempotency = os.getenv("BENCH_IDEMPOTENCY") == "1"
local run = os.getenv("BENCH_RUN") or "run"
local inspect = os.getenv("BENCH_INSPECT") == "1"
local max = tonumber(os.getenv("BENCH_MAX") or "0")
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local done_file = os.getenv("BENCH_DONE_FILE") or ""

local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do
   if #line > 0 then bodies[#bodies + 1] = line end
end

local headers = {}
local header_file = os.getenv("BENCH_HEADERS")
if header_file and #header_file > 0 then
   for line in io.lines(header_file) do
      local name, value = line:match("^([^:]+):%s*(.*)$")
      if name then headers[name] = value end
   end
end
headers["Content-Type"] = "application/json"

local threads = {}
local next_id = 1

function setup(thread)
   thread:set("id", next_id)
   threads[#threads + 1] = thread
   next_id = next_id + 1
end

function init(args)
   sent = 0
   answered = 0
   completed = 0
   statuses = {}
   -- Threads start at different citizens so that they do not send the same body at the same moment.
   sent = (id - 1) * 7919
   math.randomseed(id * 7919)
end

function request()
   sent = sent + 1
   local body = bodies[(sent % #bodies) + 1]
   if idempotency then
      headers["Idempotency-Key"] = run .. "-" .. id .. "-" .. sent
   end
   return wrk.format("POST", path, headers, body)
end

function response(status, response_headers, body)
   answered = answered + 1
   statuses[status] = (statuses[status] or 0) + 1
   if inspect and body and body:find('"status":"completed"', 1, true) then
      completed = completed + 1
   end
   if max > 0 and answered == max then
      wrk.thread:stop()
      if #done_file > 0 then
         local marker = io.open(done_file .. "." .. id, "w")
         if marker then marker:close() end
      end
   end
end

if pause > 0 then
   function delay()
      return math.floor(-math.log(1 - math.random()) * pause + 0.5)
   end
end

local function status_text(counts)
   local parts = {}
   for code, n in pairs(counts) do
      parts[#parts + 1] = string.format('"%d":%d', code, n)
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
   local total_status = {}
   local total_completed = 0
   local total_answered = 0
   for _, thread in ipairs(threads) do
      total_completed = total_completed + thread:get("completed")
      total_answered = total_answered + thread:get("answered")
      -- A table does not cross from a thread's Lua state; its entries are copied out one by one.
      local counts = thread:get("statuses")
      for code, n in pairs(counts) do
         total_status[code] = (total_status[code] or 0) + n
      end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,"answered":%d,"completed":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"mean":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},"statuses":%s}\n',
      summary.duration, summary.requests, summary.bytes, total_answered, total_completed,
      e.connect, e.read, e.write, e.status, e.timeout,
      latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency:percentile(99.9), latency.max, status_text(total_status)))
end
