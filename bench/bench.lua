-- bench/bench.lua [--smoke]: the benchmark of issue 5, run by bench/run.sh
-- (`make bench`, `make bench-smoke`) with the test server already started
-- (NUON_TEST_URL set).  Every measurement runs in a fresh process
-- (decode_worker.lua, http_worker.lua, build/bench/curl_cjson); this script
-- only generates the data, starts them, and prints one table:
--
--   1. decode + validate, same bytes, Lua 5.4 and LuaJIT, big body and a
--      25-run page: (a) cjson.decode, (b) cjson.decode + pure-Lua schema walk,
--      floor (C, exact-size tables from a pre-parsed tree), (c) nuon
--   2. sequential requests for a 25-run page: nuon vs (d) C libcurl + cjson,
--      (e) LuaSocket + cjson, (f) the curl binary per request + cjson
--   3. sandbox_runs_many over installs answering after a fixed latency, and
--      the curl binary --parallel over the same URLs; 3b. all_sandbox_runs_many
--      (every page of many installs), HTTP/2 against HTTP/1.1 over TLS, and
--      the memory of 300 installs x 100 runs collected
--   4. nuon's decode time and memory at 10 .. 10,000 runs
--
-- Exits 0 when everything ran (goals are reported, not enforced; set
-- BENCH_STRICT=1 to exit 1 when a goal is missed).  The table is also written
-- to build/bench/results.txt (results-smoke.txt for --smoke).
local common = dofile(((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")) or "bench") .. "/common.lua")
local ts = require "helpers.testserver"

local smoke = arg[1] == "--smoke"
local root = common.root
local B = root .. "/build/bench"
local DATA = B .. "/data"
local FLAVOR = os.getenv("BENCH_FLAVOR") or "current"

local C = smoke and {
  big = 1000, page = 25, scale = { 10, 100, 1000 },
  min_time = 0.01, samples = 2, passes = 1,
  req_n = 20, req_passes = 2, curl_n = 4,
  many_count = 8, many_latency = 20, many_rounds = 1, conc = { 1, 4, 16, 64 },
  wide_count = 8, wide_latency = 40, wide_conc = 4,
  fleet_count = 8, fleet_pages = 3, fleet_conc = { 4, 16 }, h2_count = 10, mem_count = 5, mem_runs = 20,
} or {
  big = 10000, page = 25, scale = { 10, 100, 1000, 10000 },
  min_time = 0.2, samples = 3, passes = 5,
  req_n = 400, req_passes = 5, curl_n = 40,
  many_count = 100, many_latency = 50, many_rounds = 2, conc = { 1, 4, 16, 64 },
  wide_count = 40, wide_latency = 200, wide_conc = 8, -- issue 4: "about 1 s, not 8 s"
  -- issue 14
  fleet_count = 100, fleet_pages = 3, fleet_conc = { 8, 16, 64 }, h2_count = 100,
  mem_count = 300, mem_runs = 100,
}
local VMS = { "lua5.4", "luajit" }
local VM_NAME = { ["lua5.4"] = "Lua 5.4", luajit = "LuaJIT" }

local function sh_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function progress(fmt, ...)
  io.stderr:write(("bench: " .. fmt .. "\n"):format(...))
  io.stderr:flush()
end

-- Runs a command, returns its RESULT line as a table (raises otherwise).
local function run(args)
  local cmd = {}
  for i, a in ipairs(args) do cmd[i] = sh_quote(a) end
  local line = table.concat(cmd, " ")
  local fh = assert(io.popen(line .. " 2>&1", "r"))
  local out = fh:read("*a")
  fh:close()
  local res = out:match("RESULT ([^\n]*)")
  if not res then error("bench: no result from: " .. line .. "\n" .. out, 0) end
  local t = {}
  for k, v in res:gmatch("(%w+)=(%S+)") do t[k] = tonumber(v) or v end
  return t
end

---------------------------------------------------------------------------
-- The table

local rows = {}
local goals, met_count = 0, 0
local function section(title) rows[#rows + 1] = { section = title } end
local function row(what, figure, ratio, goal, met)
  local m = ""
  if met ~= nil then
    goals = goals + 1
    if met then met_count = met_count + 1 end
    m = met and "yes" or "NO"
  end
  rows[#rows + 1] = { what, figure or "", ratio and ("%.2fx"):format(ratio) or "", goal or "", m }
end
local function note(text) rows[#rows + 1] = { note = text } end

local function ms(s)
  if s >= 1 then return ("%.2f s"):format(s) end
  if s >= 0.01 then return ("%.1f ms"):format(s * 1e3) end
  return ("%.3f ms"):format(s * 1e3)
end
local function mem(kib) -- KiB in, decimal units out
  if kib >= 10240 then return ("%.1f MB"):format(kib * 1024 / 1e6) end
  return ("%d KB"):format(math.floor(kib * 1.024 + 0.5))
end
local function size(bytes)
  return bytes >= 1e6 and ("%.1f MB"):format(bytes / 1e6) or ("%.0f KB"):format(bytes / 1e3)
end
local function thousands(n)
  return (tostring(n):reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", ""))
end

local function print_table(out)
  local W = { 46, 24, 8, 10, 4 }
  local function line(c)
    local parts = {}
    for i = 1, 5 do
      local s = tostring(c[i])
      parts[i] = i == 1 and s .. (" "):rep(W[i] - #s) or (" "):rep(W[i] - #s) .. s
    end
    out(table.concat(parts, "  ") .. "\n")
  end
  line { "measurement", "figure", "ratio", "goal", "met" }
  out(("-"):rep(46 + 24 + 8 + 10 + 4 + 8) .. "\n")
  for _, r in ipairs(rows) do
    if r.section then out("\n" .. r.section .. "\n")
    elseif r.note then out("  note: " .. r.note .. "\n")
    else line(r) end
  end
end

---------------------------------------------------------------------------
-- Data

local t_start = os.time()
local sizes = {}
do
  local counts = { C.page, C.big }
  for _, n in ipairs(C.scale) do counts[#counts + 1] = n end
  local args = { "luajit", root .. "/bench/gen.lua", DATA, FLAVOR }
  local seen = {}
  for _, n in ipairs(counts) do
    if not seen[n] then seen[n] = true; args[#args + 1] = tostring(n) end
  end
  progress("generating data (%s flavor) ...", FLAVOR)
  os.execute("mkdir -p " .. sh_quote(DATA))
  local fh = assert(io.popen(table.concat((function()
    local q = {}
    for i, a in ipairs(args) do q[i] = sh_quote(a) end
    return q
  end)(), " "), "r"))
  for l in fh:lines() do
    local path, n = l:match("^(%S+) (%d+)$")
    if path then sizes[path] = tonumber(n) end
  end
  assert(fh:close(), "bench/gen.lua failed")
end
local function data(n) return ("%s/%s-%d.json"):format(DATA, FLAVOR, n) end
for path in pairs(sizes) do run { "lua5.4", root .. "/bench/decode_worker.lua", "warnings", "nuon", path } end

---------------------------------------------------------------------------
-- 1. decode + validate

-- Time measurements are repeated in `passes` rounds, the implementations
-- taking turns in each (a load that comes and goes on the machine hits them
-- alike); the best is kept.  Memory is measured once, in its own process.
local cache = {}
local function measure(vm, impl, n, mode)
  local key = table.concat({ vm, impl, n, mode }, " ")
  progress("decode %s %s %d runs (%s)", vm, impl, n, mode)
  local r = run { vm, root .. "/bench/decode_worker.lua", mode, impl, data(n), C.min_time, C.samples }
  local old = cache[key]
  if not old or (mode == "time" and r.sec < old.sec) then cache[key] = r end
end
local function decode_all(list)
  for _, m in ipairs(list) do
    if m[4] == "mem" then measure(m[1], m[2], m[3], "mem") end
  end
  for _ = 1, C.passes do
    for _, m in ipairs(list) do
      if m[4] == "time" then measure(m[1], m[2], m[3], "time") end
    end
  end
end
local function decode(vm, impl, n, mode)
  local key = table.concat({ vm, impl, n, mode }, " ")
  if not cache[key] then decode_all { { vm, impl, n, mode } } end
  return cache[key]
end

local LABEL = {
  cjson = "(a) cjson.decode",
  walk = "(b) cjson.decode + Lua schema walk",
  floor = "floor: C, exact-size tables, pre-parsed",
  nuon = "(c) nuon.decode_sandbox_runs",
}

section(("1. Decode + validate (%s flavor; time: os.clock, best of %d x %d; peak: VmHWM - baseline; "
  .. "fresh process each)"):format(FLAVOR, C.passes, C.samples))
for _, vm in ipairs(VMS) do
  for _, n in ipairs { C.big, C.page } do
    local file = data(n)
    local list = {}
    for _, impl in ipairs { "cjson", "walk", "floor", "nuon" } do
      list[#list + 1] = { vm, impl, n, "time" }
      list[#list + 1] = { vm, impl, n, "mem" }
    end
    decode_all(list)
    row(("%s, %s runs (%s)"):format(VM_NAME[vm], thousands(n), size(sizes[file])), "time    peak mem")
    local t, m = {}, {}
    for _, impl in ipairs { "cjson", "walk", "floor", "nuon" } do
      t[impl] = decode(vm, impl, n, "time").sec
      m[impl] = decode(vm, impl, n, "mem").kib
      row("  " .. LABEL[impl], ("%s  %8s"):format(ms(t[impl]), mem(m[impl])))
    end
    local on54 = vm == "lua5.4"
    if on54 then
      row("  time (c) / (a)", nil, t.nuon / t.cjson, "<= 0.50x", t.nuon / t.cjson <= 0.5)
    else
      row("  time (c) / (a)", nil, t.nuon / t.cjson)
    end
    row("  time (c) / floor", nil, t.nuon / t.floor, "<= 1.25x", t.nuon / t.floor <= 1.25)
    row("  time (c) / (b)", nil, t.nuon / t.walk, "<= 0.35x", t.nuon / t.walk <= 0.35)
    row("  peak memory (c) / (a)", nil, m.nuon / m.cjson)
    row("  peak memory (c) / floor", nil, m.nuon / m.floor)
  end
end
do
  local r = decode("lua5.4", "nuon", C.big, "time")
  note(("the %s-run body: generator.body(id, {count=%d, flavor=%q, seed=1}) = %s bytes; %d enum warnings, "
    .. "built by (b), (c) and floor alike"):format(thousands(C.big), C.big, FLAVOR, thousands(sizes[data(C.big)]),
    r.warnings))
  note("floor: C module (bench/floor.c) timing only the table building from a tree parsed beforehand, "
    .. "same tables as (c) (warnings and runner_job included); (a)/(b) keep cjson.null and floats")
end

---------------------------------------------------------------------------
-- 2. requests

local url = ts.url
local gen = require "server.generator"
-- spec/server/generator.lua writes a zero execution time as "0000000000",
-- invalid JSON that nuon rightly rejects: give the server installs a seed
-- whose runs have none (the first good one from `seed` on).
local function good_seed(id, count, seed)
  while gen.body(id, { count = count, flavor = FLAVOR, seed = seed }):find('"execution_time":0%d') do
    seed = seed + 1000
  end
  return seed
end

local page_id = ("inlbench%s%d"):format(FLAVOR, C.page)
page_id = page_id .. ("0"):rep(26 - #page_id)
ts.install { id = page_id, count = C.page, flavor = FLAVOR, seed = good_seed(page_id, C.page, 1) }

section(("2. Requests, sequential, %d-run page (%s), keep-alive, test server on 127.0.0.1 "
  .. "(rate: socket.gettime, best of %d passes)"):format(C.page, size(sizes[data(C.page)]), C.req_passes))
local rate = { nuon = 0, nuon_id = 0, d = 0, d_id = 0, e = 0, f = 0, w_id = 0, w_gz = 0 }
local page_url = ("%s/v1/installs/%s/sandbox-runs?limit=%d"):format(url, page_id, C.page)
local function best(k, r) if r > rate[k] then rate[k] = r end end
-- `req_passes` passes, the peers taking turns in each; the best rate is kept
for pass = 1, C.req_passes do
  progress("requests: pass %d of %d", pass, C.req_passes)
  local function http(mode, n, enc)
    return run { "lua5.4", root .. "/bench/http_worker.lua", mode, url, page_id, C.page, n, 1, enc }.rate
  end
  best("nuon", http("nuon", C.req_n))
  best("nuon_id", http("nuon", C.req_n, "identity"))
  best("d", run { B .. "/curl_cjson", page_url, ts.token, ts.org_id, C.req_n, 1 }.rate)
  best("d_id", run { B .. "/curl_cjson", page_url, ts.token, ts.org_id, C.req_n, 1, "identity" }.rate)
  best("e", http("luasocket", C.req_n))
  best("f", http("curlbin", C.curl_n))
  best("w_id", run { "lua5.4", root .. "/bench/http_worker.lua", "wire", url, page_id, C.page, C.req_n,
    "identity" }.rate)
  best("w_gz", run { "lua5.4", root .. "/bench/http_worker.lua", "wire", url, page_id, C.page, C.req_n,
    "gzip" }.rate)
end
local function rps(r) return ("%.0f req/s"):format(r) end
row("gzip on the wire (the server compresses at level 1)")
row("(c) nuon sandbox_runs, compress = true (default)", rps(rate.nuon))
row("(d) C: libcurl keep-alive + lua-cjson", rps(rate.d))
row("wire only: curl --compressed, no decode", rps(rate.w_gz))
row("rate (c) / (d)", nil, rate.nuon / rate.d, ">= 0.90x", rate.nuon / rate.d >= 0.9)
row("the body as it is on the wire")
row("(c') nuon sandbox_runs, compress = false", rps(rate.nuon_id))
row("(d') C: libcurl keep-alive + lua-cjson", rps(rate.d_id))
row("(e) LuaSocket socket.http.request + cjson", rps(rate.e))
row("(f) curl binary per request (io.popen) + cjson", rps(rate.f))
row("wire only: curl, keep-alive, no decode", rps(rate.w_id))
row("rate (c') / (d')", nil, rate.nuon_id / rate.d_id, ">= 0.90x", rate.nuon_id / rate.d_id >= 0.9)
row("rate (c') / (e)", nil, rate.nuon_id / rate.e, ">= 1.5x", rate.nuon_id / rate.e >= 1.5)
row("rate (c') / (f)", nil, rate.nuon_id / rate.f, ">= 10x", rate.nuon_id / rate.f >= 10)
note(("each peer is compared with nuon on the same wire: (e) and (f) cannot inflate, so they get the body "
  .. "as it is, and so does (c'); compressing and inflating cost %.2f ms a request on loopback (wire rows), "
  .. "which pays off over any real network (the body is about 9x smaller). (e) opens a connection per "
  .. "request; (d) and (d') decode without validating"):format((1 / rate.w_gz - 1 / rate.w_id) * 1e3))

---------------------------------------------------------------------------
-- 3. concurrency

local prefix = ("inlbenchlat%dms"):format(C.many_latency)
progress("creating %d installs with latency_ms=%d", C.many_count, C.many_latency)
for i = 1, C.many_count do
  ts.install { id = prefix .. i, count = 10, flavor = FLAVOR, seed = good_seed(prefix .. i, 10, i),
    latency_ms = C.many_latency }
end
section(("3. sandbox_runs_many, %d installs, each answering after %d ms (10 runs each; best of %d, socket.gettime)")
  :format(C.many_count, C.many_latency, C.many_rounds))
for _, conc in ipairs(C.conc) do
  progress("concurrency %d", conc)
  local r = run { "lua5.4", root .. "/bench/http_worker.lua", "many", url, prefix, C.many_count, conc,
    C.many_rounds }
  local ideal = C.many_count / math.min(conc, C.many_count) * C.many_latency / 1000
  local ratio = r.sec / ideal
  if conc <= 16 then
    row(("concurrency %d (ideal %s)"):format(conc, ms(ideal)), ms(r.sec), ratio, "<= 1.30x", ratio <= 1.3)
  else
    row(("concurrency %d (ideal %s)"):format(conc, ms(ideal)), ms(r.sec), ratio)
  end
end
note(("ideal = installs / concurrency x latency; with whole waves it is ceil(%d / c) x %d ms "
  .. "(at 64: %s)"):format(C.many_count, C.many_latency, ms(math.ceil(C.many_count / 64) * C.many_latency / 1000)))


-- slow installs: what one request at a time would take, and what the
-- multi interface makes of it
local slow = ("inlbenchslow%dms"):format(C.wide_latency)
progress("creating %d installs with latency_ms=%d", C.wide_count, C.wide_latency)
for i = 1, C.wide_count do
  ts.install { id = slow .. i, count = 10, flavor = FLAVOR, seed = good_seed(slow .. i, 10, i),
    latency_ms = C.wide_latency }
end
do
  local seq = C.wide_count * C.wide_latency / 1000
  local ideal = seq / C.wide_conc
  progress("%d installs at %d ms, concurrency %d", C.wide_count, C.wide_latency, C.wide_conc)
  local r = run { "lua5.4", root .. "/bench/http_worker.lua", "many", url, slow, C.wide_count, C.wide_conc,
    C.many_rounds }
  row(("%d installs x %d ms, concurrency %d (ideal %s)"):format(C.wide_count, C.wide_latency, C.wide_conc,
    ms(ideal)), ms(r.sec), r.sec / ideal, "<= 1.30x", r.sec / ideal <= 1.3)
  row(("  the same one at a time would take %s: speed-up"):format(ms(seq)), nil, seq / r.sec,
    (">= %.1fx"):format(C.wide_conc / 1.3), seq / r.sec >= C.wide_conc / 1.3)
end

-- the same URLs fetched by the curl binary in parallel, nothing decoded: what
-- the test server and the wire allow at each concurrency
for _, conc in ipairs(C.conc) do
  progress("curl --parallel, concurrency %d", conc)
  local peer = run { "lua5.4", root .. "/bench/http_worker.lua", "curlpar", url, prefix, C.many_count, conc,
    C.many_rounds }
  local r = run { "lua5.4", root .. "/bench/http_worker.lua", "many", url, prefix, C.many_count, conc,
    C.many_rounds }
  local ratio = r.sec / peer.sec
  row(("concurrency %d: nuon / curl --parallel (%s)"):format(conc, ms(peer.sec)), ms(r.sec), ratio,
    "<= 1.15x", ratio <= 1.15)
end
note("curl --parallel --parallel-max c --compressed fetches the same URLs with the same headers and "
  .. "discards the bodies: the wire-only peer; where both are far from ideal, the test server (one "
  .. "nginx worker, gzip) is what saturates")

-- every page of many installs: all_sandbox_runs_many
section(("3b. all_sandbox_runs_many, %d installs x %d pages, each page answering after %d ms (best of %d)")
  :format(C.fleet_count, C.fleet_pages, C.many_latency, C.many_rounds))
local fprefix = ("inlbenchfleet%dms"):format(C.many_latency)
progress("creating %d installs of %d runs with latency_ms=%d", C.fleet_count, C.fleet_pages * 10, C.many_latency)
for i = 1, C.fleet_count do
  -- 10-run pages: the third page holds the last runs and says Next false
  ts.install { id = fprefix .. i, count = C.fleet_pages * 10, flavor = FLAVOR, seed = i,
    latency_ms = C.many_latency }
end
for _, conc in ipairs(C.fleet_conc) do
  progress("all_sandbox_runs_many, concurrency %d", conc)
  local r = run { "lua5.4", root .. "/bench/http_worker.lua", "fleet", url, fprefix, C.fleet_count, conc,
    C.many_rounds, 10 }
  local pages = C.fleet_count * C.fleet_pages
  local ideal = math.max(math.ceil(pages / conc), C.fleet_pages) * C.many_latency / 1000
  local ratio = r.sec / ideal
  row(("concurrency %d (ideal %s)"):format(conc, ms(ideal)), ms(r.sec), ratio, "<= 1.30x", ratio <= 1.3)
  local peer = run { "lua5.4", root .. "/bench/http_worker.lua", "curlpar", url, fprefix, C.fleet_count, conc,
    C.many_rounds, C.fleet_pages }
  row(("  nuon / curl --parallel, the same pages (%s)"):format(ms(peer.sec)), nil, r.sec / peer.sec,
    "<= 1.15x", r.sec / peer.sec <= 1.15)
end
note(("ideal = pages / concurrency x latency in whole waves, and never under %d waves (an install's "
  .. "pages follow each other); curl fetches the same page URLs with no such order, nothing decoded")
  :format(C.fleet_pages))

-- HTTP/2 over TLS: the same fleet on the server's h2 and h1 TLS listeners
if ts.h2_url and ts.tls_url then
  local tls_prefix = "inlbenchtls"
  for i = 1, C.h2_count do
    ts.install { id = tls_prefix .. i, count = 10, flavor = FLAVOR, seed = i, latency_ms = C.many_latency }
  end
  local fig = {}
  for _, listener in ipairs({ { "HTTP/2", ts.h2_url }, { "HTTP/1.1", ts.tls_url } }) do
    progress("%s over TLS, %d concurrent requests", listener[1], C.h2_count)
    local before = ts.connections(listener[2])
    local r = run { "lua5.4", root .. "/bench/http_worker.lua", "fleet", listener[2], tls_prefix, C.h2_count,
      C.h2_count, 1, 10, ts.ca_file }
    -- the worker makes C.h2_count x (1 warm-up + 1 round) requests on one client
    fig[listener[1]] = { sec = r.sec, conns = ts.connections(listener[2]) - before }
  end
  local h2, h1 = fig["HTTP/2"], fig["HTTP/1.1"]
  row(("HTTP/2 over TLS, %d concurrent requests: connections"):format(C.h2_count), ("%d"):format(h2.conns), nil,
    "1 or 2", h2.conns >= 1 and h2.conns <= 2)
  row("HTTP/1.1 over TLS, the same: connections", ("%d"):format(h1.conns))
  row("HTTP/2 time / HTTP/1.1 time", ms(h2.sec) .. " / " .. ms(h1.sec), h2.sec / h1.sec)
end

-- memory of a big fleet collected
do
  local mprefix = "inlbenchmem"
  progress("creating %d installs of %d runs", C.mem_count, C.mem_runs)
  for i = 1, C.mem_count do
    ts.install { id = mprefix .. i, count = C.mem_runs, flavor = FLAVOR, seed = i }
  end
  progress("all_sandbox_runs_many, %d installs x %d runs, kept", C.mem_count, C.mem_runs)
  local r = run { "lua5.4", root .. "/bench/http_worker.lua", "fleetmem", url, mprefix, C.mem_count, 16 }
  row(("peak memory, %d installs x %d runs collected"):format(C.mem_count, C.mem_runs),
    ("%s  %.1f KB/run"):format(mem(r.kib), r.kib * 1.024 / r.runs))
  note("compare the 10,000-run decode's KB/run in section 4: the fleet holds every run it collected, "
    .. "plus the responses of the pages in flight")
end

---------------------------------------------------------------------------
-- 4. scaling

section("4. Scaling of (c) nuon.decode_sandbox_runs (as in 1.)")
do
  local list = {}
  for _, vm in ipairs(VMS) do
    for _, n in ipairs(C.scale) do
      if not cache[table.concat({ vm, "nuon", n, "time" }, " ")] then
        list[#list + 1] = { vm, "nuon", n, "time" }
        list[#list + 1] = { vm, "nuon", n, "mem" }
      end
    end
    -- the floor at the two largest sizes: how the machine itself scales
    for k = #C.scale - 1, #C.scale do
      local n = C.scale[k]
      if not cache[table.concat({ vm, "floor", n, "time" }, " ")] then list[#list + 1] = { vm, "floor", n, "time" } end
    end
  end
  decode_all(list)
end
for _, vm in ipairs(VMS) do
  local per, mper = {}, {}
  for _, n in ipairs(C.scale) do
    local t = decode(vm, "nuon", n, "time").sec
    local m = decode(vm, "nuon", n, "mem").kib
    per[n], mper[n] = t / n, m / n
    row(("%s, %s runs (%s)"):format(VM_NAME[vm], thousands(n), size(sizes[data(n)])),
      ("%.1f us/run  %.1f KB/run"):format(t / n * 1e6, m * 1.024 / n))
  end
  local hi, lo = C.scale[#C.scale], C.scale[#C.scale - 1]
  local ratio = per[hi] / per[lo]
  local fhi, flo = decode(vm, "floor", hi, "time").sec / hi, decode(vm, "floor", lo, "time").sec / lo
  row(("  per-run time %s / %s runs"):format(thousands(hi), thousands(lo)), nil, ratio)
  row("  the same for the floor (the machine: caches, GC)", nil, fhi / flo)
  row("  (c)'s step over the floor's", nil, ratio / (fhi / flo), "~1 (<= 1.25x)", ratio / (fhi / flo) <= 1.25)
  row(("  per-run peak memory %s / %s runs"):format(thousands(hi), thousands(lo)), nil, mper[hi] / mper[lo],
    "~1 (<= 1.25x)", mper[hi] / mper[lo] <= 1.25)
end
note("the floor builds exact-size tables from a flat array in one loop, linear by construction: "
  .. "its step is the machine's (caches, allocator, GC pacing), which any decoder pays; "
  .. "the goal is that (c) adds none of its own")

---------------------------------------------------------------------------

local function header(out)
  local core_version = run { "lua5.4", "-e", "dofile(" .. ("%q"):format(root .. "/bench/common.lua")
    .. ") local c = require 'nuon.core' io.write('RESULT v=', c.VERSION, ' curl=', "
    .. "c.curl_version:match('libcurl/%S+') or '?', '\\n')" }
  local ncpu = io.popen("nproc 2>/dev/null"):read("*l") or "?"
  local cpu = "?"
  for line in io.lines("/proc/cpuinfo") do
    local m = line:match("^model name%s*:%s*(.-)%s*$")
    if m then cpu = m break end
  end
  out(("nuon %s benchmark%s: %s, %s, %s cores (%s), %s\n"):format(core_version.v,
    smoke and " (smoke: tiny sizes)" or "",
    io.popen("lua5.4 -v 2>&1"):read("*l"):match("^Lua %S+") or "Lua 5.4",
    io.popen("luajit -v 2>&1"):read("*l"):match("^LuaJIT %S+") or "LuaJIT",
    ncpu, cpu, core_version.curl))
end

local out_path = B .. (smoke and "/results-smoke.txt" or "/results.txt")
local fh = io.open(out_path, "w")
local function out(s)
  io.write(s)
  if fh then fh:write(s) end
end
out("\n")
header(out)
out("\n")
print_table(out)
out(("\n%d of %d goals met; %d s\n"):format(met_count, goals, os.time() - t_start))
if fh then fh:close() end
io.stdout:flush()
if os.getenv("BENCH_STRICT") == "1" and met_count < goals then os.exit(1) end
