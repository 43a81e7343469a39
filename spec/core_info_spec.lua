-- What nuon.core says about itself and its libcurl (core.lua, core.curl),
-- which :checkhealth nuon and bug reports show; on every Lua of the matrix.
local core = require "nuon.core"

describe("nuon.core's build information", function()
  it("names the Lua it was built for, which is the Lua it runs in", function()
    assert.equal(jit and "LuaJIT" or _VERSION, core.lua)
  end)

  it("gives libcurl's version and TLS library as curl_version() does", function()
    assert.equal(core.curl_version:match("^libcurl/(%S+)"), core.curl.version)
    if core.curl.ssl then
      assert.truthy(core.curl_version:find(core.curl.ssl, 1, true), core.curl.ssl)
      assert.is_true(core.curl.tls)
    else
      assert.is_false(core.curl.tls)
    end
  end)

  it("gives libcurl's features as booleans", function()
    for _, f in ipairs{ "tls", "http2", "libz", "ipv6", "asynchdns" } do
      assert.is_boolean(core.curl[f], f)
    end
    -- nghttp2 in the version string is what http2 support needs
    assert.equal(core.curl_version:find("nghttp2", 1, true) ~= nil, core.curl.http2)
  end)
end)
