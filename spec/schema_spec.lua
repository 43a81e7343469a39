-- schema/sandbox_runs.schema.json is the one source of the C core's schema:
-- schema/gen.lua makes src/schema_gen.h of it, schema.c expands that into
-- the decoder's tables.  These specs check each step: the committed header is
-- what the generator makes, the core's tables (core.schema, nuon.enums,
-- nuon.enum_provenance) are the JSON's in both directions, and the generator
-- refuses what the C tables could not hold rather than dropping it.
local cjson = require "cjson"
local core = require "nuon.core"
local nuon = require "nuon"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec"
local root = here .. "/.."
local gen = dofile(root .. "/schema/gen.lua")

local function read(path)
  local fh = assert(io.open(path, "rb"))
  local s = fh:read("*a")
  fh:close()
  return s
end

local doc = cjson.decode(read(root .. "/schema/sandbox_runs.schema.json"))
local model = gen.model(doc)

describe("schema/gen.lua", function()
  it("makes src/schema_gen.h as it is committed (run make schema after editing the schema)", function()
    assert.equal(gen.header(doc), read(root .. "/src/schema_gen.h"))
  end)

  it("reads every object type the run reaches, the run first, and every enum", function()
    local names = {}
    for i, ty in ipairs(model.types) do names[i] = ty.name end
    assert.equal("app.InstallSandboxRun", names[1])
    assert.equal("RUN", model.types[1].c)
    assert.equal(14, #names)
    for _, name in ipairs(names) do assert.is_table(doc["$defs"][name], name) end
    assert.is_nil(core.schema["stderr.ErrResponse"]) -- the error body is no run type
    assert.equal(8, #model.enums)
  end)

  -- A document whose run has one property x (and more $defs).
  local function doc_with(x, defs)
    local d = { type = "array", items = { ["$ref"] = "#/$defs/app.Run" },
      ["$defs"] = { ["app.Run"] = { type = "object", properties = { x = x }, additionalProperties = true } } }
    for k, v in pairs(defs or {}) do d["$defs"][k] = v end
    return d
  end
  local E = { type = "string", enum = { "a", "b" }, ["x-nuon-enum"] = "e",
    ["x-nuon-provenance"] = { a = "seed", b = "added 2025-06" } }

  it("gives each JSON shape its kind, with or without null", function()
    local cases = {
      { { type = "string" }, "string" },
      { { type = { "string", "null" } }, "string" },
      { { type = "integer", minimum = -9223372036854775808, maximum = 9223372036854775807 }, "integer" },
      { { type = "boolean", description = "d", ["$comment"] = "c" }, "boolean" },
      { { type = { "object", "null" }, additionalProperties = { type = "string" } }, "map" },
      { { type = { "array", "null" }, items = { type = "string" } }, "strings" },
      { { anyOf = { { ["$ref"] = "#/$defs/app.Run" }, { type = "null" } } }, "object", "app.Run" },
      { { type = "array", items = { ["$ref"] = "#/$defs/app.Run" } }, "array", "app.Run" },
      { { ["$ref"] = "#/$defs/app.E", ["x-nuon-provenance"] = "added 2025-06" }, "enum", "e" },
    }
    for i, c in ipairs(cases) do
      local f = gen.model(doc_with(c[1], { ["app.E"] = E })).types[1].fields[1]
      assert.same({ c[2], c[3] }, { f.kind, f.ref }, "case " .. i)
    end
  end)

  it("refuses what the C tables cannot hold, naming where", function()
    local x = "schema/gen.lua: $defs/app.Run/properties/x: "
    local cases = {
      { { type = "number" }, x .. "type number has no kind in C" },
      { { type = "string", format = "date-time" }, x .. "keyword format has no place in the C tables" },
      { { type = "string", enum = { "a" } }, x .. "keyword enum has no place in the C tables" },
      { { type = "integer", minimum = 0 }, x .. "an integer's bounds can only be int64's" },
      { { anyOf = { { type = "string" }, { type = "integer" } } },
        x .. 'anyOf must be one schema and {"type": "null"}' },
      { { type = { "string", "integer" } }, x .. "a type list must be one type and null" },
      { { type = "array", items = { type = "integer" } },
        x .. 'array items are a $ref to a $defs type or {"type": "string"}' },
      { { type = "object", additionalProperties = { type = "integer" } },
        x .. 'an object property is a $ref to a $defs type, or a map: additionalProperties {"type": "string"}' },
      { { ["$ref"] = "#/$defs/app.Missing" }, x .. "no $defs entry app.Missing" },
      { { ["$ref"] = "#/$defs/app.E" }, "schema/gen.lua: $defs/app.E: value \"b\" has no provenance",
        { ["app.E"] = { type = "string", enum = { "a", "b" }, ["x-nuon-enum"] = "e",
          ["x-nuon-provenance"] = { a = "seed" } } } },
      { { ["$ref"] = "#/$defs/app.E" }, "schema/gen.lua: $defs/app.E: x-nuon-provenance names \"c\", not a value",
        { ["app.E"] = { type = "string", enum = { "a" }, ["x-nuon-enum"] = "e",
          ["x-nuon-provenance"] = { a = "seed", c = "seed" } } } },
      { { ["$ref"] = "#/$defs/app.E" }, "schema/gen.lua: $defs/app.E: value \"a\" is listed twice",
        { ["app.E"] = { type = "string", enum = { "a", "a" }, ["x-nuon-enum"] = "e",
          ["x-nuon-provenance"] = { a = "seed" } } } },
      { { ["$ref"] = "#/$defs/app.O" },
        "schema/gen.lua: $defs/app.O: additionalProperties must be true: the decoder keeps every key it does not know",
        { ["app.O"] = { type = "object", properties = { y = { type = "string" } }, additionalProperties = false } } },
    }
    for i, c in ipairs(cases) do
      local ok, err = pcall(gen.model, doc_with(c[1], c[3]))
      assert.is_false(ok, "case " .. i)
      assert.equal(c[2], err, "case " .. i)
    end
    local d = doc_with({ type = "string" })
    d["$defs"]["app.Run"].properties["foo-bar"] = { type = "string" }
    assert.equal("schema/gen.lua: $defs/app.Run/properties/foo-bar: a field name must be a C identifier",
      select(2, pcall(gen.model, d)))
  end)

  it("checks a header against the schema: a stale one is named, with what to run", function()
    local schema_path, tmp = root .. "/schema/sandbox_runs.schema.json", os.tmpname()
    local fh = assert(io.open(tmp, "wb"))
    fh:write((read(root .. "/src/schema_gen.h"):gsub("NUON_K_INTEGER", "NUON_K_STRING", 1)))
    fh:close()
    local ok, err = gen.check(schema_path, tmp)
    os.remove(tmp)
    assert.is_nil(ok)
    assert.equal(tmp .. " is not what schema/gen.lua makes of " .. schema_path .. ": run make schema", err)
    assert.is_true(gen.check(schema_path, root .. "/src/schema_gen.h"))
  end)
end)

describe("nuon.core.schema", function()
  it("is the JSON schema's object types, each field with its kind and type or enum, both ways", function()
    local want = {}
    for _, ty in ipairs(model.types) do
      local fields = {}
      for i, f in ipairs(ty.fields) do fields[i] = { f.name, f.kind, f.ref } end
      want[ty.name] = fields
    end
    assert.same(want, core.schema)
  end)

  it("holds today's fields next to the seed's (runner_jobs, status_v2, org_id)", function()
    local run = {}
    for _, f in ipairs(core.schema["app.InstallSandboxRun"]) do run[f[1]] = f end
    assert.same({ "runner_job", "object", "app.RunnerJob" }, run.runner_job)
    assert.same({ "runner_jobs", "array", "app.RunnerJob" }, run.runner_jobs)
    assert.same({ "status_v2", "object", "app.CompositeStatus" }, run.status_v2)
    assert.same({ "status", "enum", "run_status" }, run.status)
    assert.same({ "org_id", "string" }, run.org_id)
  end)
end)

describe("nuon.enums and nuon.enum_provenance", function()
  it("are the JSON schema's enums, every value in its order with its provenance, both ways", function()
    local values, provenance = {}, {}
    for _, e in ipairs(model.enums) do
      values[e.name], provenance[e.name] = {}, {}
      for i, v in ipairs(e.values) do
        values[e.name][i] = v[1]
        provenance[e.name][v[1]] = v[2]
      end
    end
    assert.same(values, nuon.enums)
    assert.same(provenance, nuon.enum_provenance)
  end)

  it("list the seed's values before those added since", function()
    for _, e in ipairs(model.enums) do
      local added = false
      for _, v in ipairs(e.values) do
        if v[2]:find("^added") then
          added = true
        else
          assert.is_false(added, e.name .. ": " .. v[1] .. " (" .. v[2] .. ") after an added value")
        end
      end
    end
  end)
end)
