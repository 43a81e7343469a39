-- The calls spec/alloc/alloc_test.c runs with the Lua allocator failing from
-- the n-th allocation on: every entry point of the C core, against the test
-- API server (NUON_TEST_URL), on success and error paths.
local ts = require "helpers.testserver"

local ID1, ID2 = ts.demo[1].id, ts.demo[2].id
local HOSTILE = "inlalloc000000000000000001"

local S = {}
local live = {} -- what run() made, for check() to reuse and close

local function opts(extra)
  local o = { base_url = ts.url, token = ts.token, org_id = ts.org_id, retries = 0, timeout = 10 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

function S.setup()
  ts.reset()
  ts.set_body(HOSTILE, '[{"id":"sbr1","run_type":"teleport","note":"caf\\u00e9 \\u2028"},'
    .. '{"id":"sbr2","runner_job":{"max_executions":"1"}}]')
end

function S.run()
  local nuon = require "nuon"
  local c = nuon.new(opts())
  live.c = c
  c:sandbox_runs(ID1, { limit = 3 })                 -- runs, page headers, warnings
  c:sandbox_runs(HOSTILE)                            -- a validation error
  local bad = nuon.new(opts{ token = "wrong-token-0123456789" })
  live.bad = bad
  bad:sandbox_runs(ID1)                              -- 401 with an error body, scrubbed
  c:sandbox_runs_many({ ID1, ID2, HOSTILE }, { limit = 2, concurrency = 2 })
  c:all_sandbox_runs_many({ ID1, HOSTILE }, { page_size = 10, max = 12, concurrency = 2 })
  local batch = c:start_all_sandbox_runs_many({ ID1, ID2 }, { page_size = 10, max = 12 })
  live.batch = batch
  batch:perform()
  local req = c:start_sandbox_runs(ID1, { limit = 2 })
  live.req = req
  req:perform()
  for _ in c:each_sandbox_run(ID2, { page_size = 4, max = 9, where = { fn = function() return true end } }) do end
  nuon.decode_sandbox_runs('[{"id":"a","run_type":"x","created_at":"2024-12-18T23:58:12.12345Z"}]')
  -- one run, its metadata, known_values, nulls in typed arrays
  local first = c:sandbox_runs(ID1, { limit = 1 })
  if first and first[1] then
    c:sandbox_run(ID1, first[1].id, { known_values = { run_type = { "teleport" } } })
    local one = c:start_sandbox_run(ID1, first[1].id)
    live.one = one
    one:perform()
  end
  c:sandbox_run(ID1, "sbrnosuchrun")                 -- 404 with the JSON error body
  nuon.decode_sandbox_runs('[null,{"runner_jobs":[null,{"type":"x"}],"created_by":{"org_ids":[null]}}]',
    { known_values = { runner_job_type = { "x" } } })
  require("nuon.core").decode_run('{"id":"r","status":"frozen"}', { api_version = "0.19.1125" })
  require("nuon.core").decode_json('{"error":"x","description":"\\ud83d\\ude00","n":[1,2.5,true,null]}')
end

-- Everything still works after the memory error: the objects run() made and
-- new ones (so a metatable left half-built by the error would show).  The
-- objects made here are not closed but dropped: their __gc must free them,
-- or LeakSanitizer reports it.
function S.check()
  local nuon = require "nuon"
  local c = live.c or nuon.new(opts())
  local runs = assert(c:sandbox_runs(ID1, { limit = 2 }))
  assert(#runs == 2, "expected 2 runs")
  local results = assert(c:sandbox_runs_many({ ID1, ID2 }, { limit = 1 }))
  assert(results[ID1].runs and results[ID2].runs, "sandbox_runs_many failed after the error")
  local all = c:all_sandbox_runs_many({ ID1 }, { page_size = 10, max = 12 })
  assert(#all[ID1].runs == 12, "all_sandbox_runs_many failed after the error")
  local ev = assert(c:start_all_sandbox_runs_many({ ID1 }, { page_size = 10, max = 3 })):perform()
  assert(ev[ID1].runs and #ev[ID1].runs == 3,
    "start_all_sandbox_runs_many failed after the error: " .. tostring(ev[ID1].err))
  assert(#assert(c:start_sandbox_runs(ID1, { limit = 1 }):perform()) == 1)
  local _, err = nuon.new(opts{ token = "wrong-token-0123456789" }):sandbox_runs(ID1)
  assert(tostring(err):match("^nuon http error: HTTP 401"), "error objects lost their __tostring")
  assert(nuon.decode_sandbox_runs("[]"))
  assert(c:sandbox_run(ID1, runs[1].id).id == runs[1].id)
  assert(nuon.meta(assert(c:start_sandbox_run(ID1, runs[1].id):perform())).api_version)
  c:close()
  if live.bad then live.bad:close() end
  if live.req then live.req:close() end
  if live.batch then live.batch:close() end
  if live.one then live.one:close() end
  live = {}
  collectgarbage()
  collectgarbage()
end

return S
