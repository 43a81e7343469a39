-- The decoder's byte-level primitives (src/scan.h), checked in C against plain
-- byte loops (spec/c/scan_test.c), on each of their paths: SSE2 where this
-- machine's compiler targets it, 64-bit words (-DNUON_NO_SSE2) and a byte at a
-- time (-DNUON_NO_SSE2 -DNUON_NO_SWAR).  The decode specs run the first.
describe("scan.h (C unit test)", function()
  local cc = os.getenv("CC")
  if not cc or cc == "" then cc = "cc" end

  local function run(name, flags)
    os.execute("mkdir -p build/tests")
    local exe = "build/tests/scan_test_" .. name
    local cmd = cc .. " -std=c99 -O2 -Wall -Wextra -Werror " .. flags .. " -Isrc spec/c/scan_test.c -o "
      .. exe .. " 2>&1 && " .. exe .. " 2>&1"
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    local ok, _, code = p:close()
    if type(ok) == "number" then code = ok; ok = code == 0 end -- Lua 5.1 / LuaJIT without 5.2 compat
    assert.is_true(ok == true or code == 0, out)
    return out
  end

  it("finds string ends, compares keys and reads eight digits as plain loops do, on the widest path", function()
    assert.matches("ok: scan.h %(%w+%), %d+ checks, 0 failed", run("native", ""))
  end)

  it("does the same in 64-bit words", function()
    assert.matches("ok: scan.h %(swar%), %d+ checks, 0 failed", run("swar", "-DNUON_NO_SSE2"))
  end)

  it("does the same a byte at a time", function()
    assert.matches("ok: scan.h %(bytes%), %d+ checks, 0 failed", run("bytes", "-DNUON_NO_SSE2 -DNUON_NO_SWAR"))
  end)
end)
