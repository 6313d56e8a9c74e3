-- wrk script: every connection carries its own session cookie.
--
-- wrk has no per-connection hook, but a connection never has more than one
-- request in flight. So each thread keeps a free list of session ids:
-- request() takes one (or makes a new one when the list is empty) and
-- response() puts it back, reading it from the body ("<id> <counter>").
-- No two requests in flight ever share a session, and there are at most as
-- many sessions as connections.
--
-- Environment: BENCH_SID_PREFIX (unique per run, so counters start at 0)
-- and BENCH_RESULT (the JSON file done() writes).

local threads = {}

function setup(thread)
  thread:set("thread_no", #threads)
  table.insert(threads, thread)
end

-- Per thread (each has its own Lua state).
local free_ids = {}
local ids_made = 0
local id_prefix
successes = {}   -- session id -> 200 answers with a counter; read by done()
failures = 0     -- answers that were not "200 <id> <counter>"
in_flight = {}   -- session id -> true while its request awaits an answer

function init(args)
  id_prefix = os.getenv("BENCH_SID_PREFIX") .. "t" .. thread_no .. "s"
end

-- A new id: [a-zA-Z0-9-], padded to PHP's default length of 32; the "-"
-- after the number keeps "s1" + padding apart from "s10" + padding.
local function new_session_id()
  ids_made = ids_made + 1
  local id = id_prefix .. ids_made .. "-"
  return id .. string.rep("0", 32 - #id)
end

function request()
  local id = table.remove(free_ids) or new_session_id()
  in_flight[id] = true
  return wrk.format(nil, nil, { Cookie = "PHPSESSID=" .. id })
end

function response(status, headers, body)
  local id = string.match(body, "^([%w,-]+) %d+\n")
  if status == 200 and id then
    successes[id] = (successes[id] or 0) + 1
  else
    failures = failures + 1
  end
  -- An answer without an id (an error page) strands its id: a new one
  -- replaces it, and the check afterwards sees what reached the store.
  if id then
    in_flight[id] = nil
    table.insert(free_ids, id)
  end
end

-- Requests still in flight when wrk stops may or may not reach the store:
-- their ids are listed so the check allows one more increment for them.
-- (The list also holds the id of the request() wrk calls once at start-up
-- to check the script, never sent: its session stays at 0.)
function done(summary, latency, requests)
  local per_session, unanswered = {}, {}
  local failed = 0
  for _, thread in ipairs(threads) do
    for id, n in pairs(thread:get("successes")) do
      table.insert(per_session, string.format('"%s": %d', id, n))
    end
    for id in pairs(thread:get("in_flight")) do
      table.insert(unanswered, string.format('"%s"', id))
    end
    failed = failed + thread:get("failures")
  end
  local e = summary.errors
  local out = assert(io.open(os.getenv("BENCH_RESULT"), "w"))
  out:write(string.format(
    '{"duration_us": %d, "requests": %d, "failures": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p99": %d, "max": %d}, "successes": {%s}, "in_flight": [%s]}\n',
    summary.duration, summary.requests, failed,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max,
    table.concat(per_session, ", "), table.concat(unanswered, ", ")))
  out:close()
end
