-- The version in one place: NUON_VERSION in src/nuon.h.  nuon.VERSION, the
-- modules' _VERSION, the rockspec and the CHANGELOG must agree with it, and
-- the rockspec must build what the Makefile builds.
local nuon = require "nuon"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec"
local root = here .. "/.."

local function read(path)
  local f = assert(io.open(root .. "/" .. path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local function listdir(dir, pattern)
  local names = {}
  local p = assert(io.popen('ls -1 "' .. root .. "/" .. dir .. '"'))
  for name in p:lines() do
    if name:match(pattern) then names[#names + 1] = name end
  end
  p:close()
  table.sort(names)
  return names
end

local function sorted(t)
  local out = {}
  for i = 1, #t do out[i] = t[i] end
  table.sort(out)
  return out
end

-- Loads a rockspec (plain Lua assignments) into a table, with no access to globals.
local function load_rockspec(path)
  local env = {}
  local chunk = assert(load(read(path), "@" .. path, "t", env))
  chunk()
  return env
end

-- Every rockspec: the scm one at the top, releases in rockspecs/.
local function rockspecs()
  local files = listdir(".", "%.rockspec$")
  for _, name in ipairs(listdir("rockspecs", "%.rockspec$")) do files[#files + 1] = "rockspecs/" .. name end
  return files
end

-- A copy of t without the keys in `skip`.
local function without(t, skip)
  local out = {}
  for k, v in pairs(t) do
    if not skip[k] then out[k] = v end
  end
  return out
end

local header_version = read("src/nuon.h"):match('#define%s+NUON_VERSION%s+"([^"]*)"')

describe("the version", function()
  it("is defined once in src/nuon.h as MAJOR.MINOR.PATCH", function()
    assert.is_string(header_version)
    assert.matches("^%d+%.%d+%.%d+$", header_version)
  end)

  it("is nuon.VERSION and nuon.core.VERSION", function()
    assert.equal(header_version, nuon.VERSION)
    assert.equal(header_version, require("nuon.core").VERSION)
    assert.equal("lua-nuon " .. header_version, nuon._VERSION)
  end)

  it("is the _VERSION of every Lua module that has one", function()
    for _, file in ipairs(listdir("lua/nuon", "%.lua$")) do
      local name = file:gsub("%.lua$", "")
      if name ~= "init" and name ~= "nvim" then -- nuon.nvim needs Neovim to load
        local m = require("nuon." .. name)
        if type(m) == "table" and m._VERSION ~= nil then
          assert.equal(header_version, m._VERSION, "nuon." .. name .. "._VERSION")
        end
      end
    end
  end)

  it("heads the CHANGELOG: its latest entry is this version", function()
    local text = read("CHANGELOG.md")
    local latest, date = text:match("\n## %[(%d+%.%d+%.%d+)%] %- ([%w%-]+)")
    assert.equal(header_version, latest)
    assert.truthy(date == "Unreleased" or date:match("^%d%d%d%d%-%d%d%-%d%d$"), date)
    -- nothing versioned above it but an [Unreleased] section
    local before = text:sub(1, text:find("\n## %[" .. latest:gsub("%.", "%%.") .. "%]"))
    for heading in before:gmatch("\n## %[([^%]]*)%]") do
      assert.equal("Unreleased", heading)
    end
  end)
end)

describe("the rockspec", function()
  it("is named after its package and version, with a version scheme LuaRocks accepts", function()
    local files = rockspecs()
    assert.is_true(#files >= 1)
    for _, file in ipairs(files) do
      local spec = load_rockspec(file)
      assert.equal("nuon", spec.package)
      assert.equal(spec.package .. "-" .. spec.version .. ".rockspec", file:match("[^/]*$"))
      local v = spec.version:match("^(.-)%-%d+$")
      assert.truthy(v, "version " .. spec.version .. " has no -REVISION")
      -- scm / dev rockspecs build the working tree; release ones carry the version
      assert.truthy(v == "scm" or v == "dev" or v == header_version,
        file .. ": version " .. spec.version .. " is neither scm/dev nor " .. header_version)
      if v == header_version then
        assert.truthy(spec.source.tag or spec.source.branch, file .. ": a release needs source.tag")
      end
    end
  end)

  it("exists for this version in rockspecs/, its source the tag v<version>", function()
    local file = "rockspecs/nuon-" .. header_version .. "-1.rockspec"
    local spec = load_rockspec(file)
    assert.equal(header_version .. "-1", spec.version)
    assert.equal("v" .. header_version, spec.source.tag)
    assert.matches("^git%+https://", spec.source.url)
    local scm = load_rockspec("nuon-scm-1.rockspec")
    assert.equal(scm.source.url, spec.source.url)
  end)

  it("is the same build in each file: only version and source differ", function()
    local skip = { version = true, source = true }
    local scm = without(load_rockspec("nuon-scm-1.rockspec"), skip)
    for _, file in ipairs(rockspecs()) do
      assert.same(scm, without(load_rockspec(file), skip), file)
    end
  end)

  it("builds nuon.core from the Makefile's SRCS", function()
    local makefile = read("Makefile"):gsub("\\\n", " ")
    local line = assert(makefile:match("\nSRCS%s*:?=%s*([^\n]*)"), "no SRCS in the Makefile")
    local srcs = {}
    for s in line:gmatch("%S+") do srcs[#srcs + 1] = s end
    assert.same(sorted(listdir("src", "%.c$")), sorted((function()
      local names = {}
      for i, s in ipairs(srcs) do names[i] = s:match("^src/(.*)$") end
      return names
    end)()), "SRCS must list every src/*.c")
    for _, file in ipairs(rockspecs()) do
      local core = load_rockspec(file).build.modules["nuon.core"]
      assert.is_table(core)
      assert.same(sorted(srcs), sorted(core.sources))
    end
  end)

  it("installs every Lua module in lua/nuon, and nothing else", function()
    local want = {}
    for _, f in ipairs(listdir("lua/nuon", "%.lua$")) do
      local name = f == "init.lua" and "nuon" or "nuon." .. f:gsub("%.lua$", "")
      want[name] = "lua/nuon/" .. f
    end
    for _, file in ipairs(rockspecs()) do
      local got = {}
      for name, v in pairs(load_rockspec(file).build.modules) do
        if type(v) == "string" then got[name] = v end
      end
      assert.same(want, got)
    end
  end)
end)
