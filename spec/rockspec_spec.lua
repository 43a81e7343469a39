-- `luarocks make` of the release rockspec, as a user would run it from a
-- checkout: into a temporary tree, from a copy of the checkout's files (so
-- the working tree is left as it was, and a file the rockspec needs but git
-- does not hold fails here).  Lua 5.4 only: the build does not depend on the
-- Lua that runs busted, and once is enough.  Dependencies come from Debian
-- (lua-cjson), so LuaRocks is told not to fetch any (--deps-mode=none).
if _VERSION ~= "Lua 5.4" then return end

local nuon = require "nuon"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec"
if here:sub(1, 1) ~= "/" then here = (os.getenv("PWD") or ".") .. "/" .. here end
local root = here .. "/.."
local ROCKSPEC = "rockspecs/nuon-" .. nuon.VERSION .. "-1.rockspec"

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"exit=$?\""))
  local out = p:read("*a")
  p:close()
  local status = tonumber(out:match("exit=(%d+)%s*$"))
  return status, (out:gsub("exit=%d+%s*$", ""))
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

describe("luarocks make " .. ROCKSPEC, function()
  local tmp, tree, status, log

  setup(function()
    local p = assert(io.popen("mktemp -d"))
    tmp = p:read("*l")
    p:close()
    tree = tmp .. "/tree"
    -- the files git holds or would hold (tracked, and new but not ignored)
    local code, out = sh(("mkdir -p %s && cd %s && git ls-files -z --cached --others --exclude-standard"
      .. " | xargs -0 cp --parents -t %s"):format(q(tmp .. "/src"), q(root), q(tmp .. "/src")))
    assert(code == 0, out)
    status, log = sh(("cd %s && luarocks --lua-version=5.4 --tree=%s make --deps-mode=none %s")
      :format(q(tmp .. "/src"), q(tree), ROCKSPEC))
  end)

  teardown(function()
    if tmp and tmp:match("^/tmp/") then os.execute("rm -rf " .. q(tmp)) end
  end)

  it("builds and installs", function()
    assert.equal(0, status, log)
    assert.matches("nuon " .. nuon.VERSION:gsub("%.", "%%.") .. "%-1 is now installed", log)
  end)

  it("installs a module that loads from the tree with the right version", function()
    assert.equal(0, status, log)
    local lua_path = tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua"
    local lua_cpath = tree .. "/lib/lua/5.4/?.so"
    local code, out = sh(("cd / && LUA_PATH=%s LUA_CPATH=%s lua5.4 -e %s"):format(
      q(lua_path .. ";;"), q(lua_cpath .. ";;"), q([[
        local nuon = require "nuon"
        local core = require "nuon.core"
        print(nuon.VERSION, package.searchpath("nuon.core", package.cpath), package.searchpath("nuon", package.path))
      ]])))
    assert.equal(0, code, out)
    local version, core_path, lua_file = out:match("^(%S+)\t(%S+)\t(%S+)")
    assert.equal(nuon.VERSION, version)
    assert.equal(tree .. "/lib/lua/5.4/nuon/core.so", core_path)
    assert.equal(tree .. "/share/lua/5.4/nuon/init.lua", lua_file)
  end)
end)
