-- The retry backoff policy (src/backoff.c), checked in C on many samples: an
-- exponential ceiling base * 2^(n-1), full jitter over [0, ceiling], every wait
-- capped by max_backoff, Retry-After capped too (spec/c/backoff_test.c).
-- Timing over the network is in reliability_spec.lua.
describe("backoff (C unit test)", function()
  it("is exponential with full jitter, capped by max_backoff, Retry-After capped", function()
    local cc = os.getenv("CC")
    if not cc or cc == "" then cc = "cc" end
    os.execute("mkdir -p build/tests")
    local cmd = cc .. " -std=c99 -O1 -D_POSIX_C_SOURCE=200809L -Isrc"
      .. " $(pkg-config --cflags lua5.4 libcurl 2>/dev/null) spec/c/backoff_test.c src/backoff.c"
      .. " -o build/tests/backoff_test 2>&1 && build/tests/backoff_test 2>&1"
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    local ok, _, code = p:close()
    if type(ok) == "number" then code = ok; ok = code == 0 end -- Lua 5.1 / LuaJIT without 5.2 compat
    assert.is_true(ok == true or code == 0, out)
    assert.matches("ok: backoff policy, 0 checks failed", out)
  end)
end)
