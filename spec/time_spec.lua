-- nuon.time: RFC 3339 parsing and formatting without os.time.
local time = require "nuon.time"

local EXPECTED = "expected YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"

local function invalid(s, reason)
  return "invalid timestamp '" .. s .. "': " .. reason
end

describe("nuon.time.parse", function()
  it("parses the Unix epoch", function()
    assert.equal(0, time.parse("1970-01-01T00:00:00Z"))
  end)

  it("parses a timestamp as Nuon sends it", function()
    assert.equal(1734566292, time.parse("2024-12-18T23:58:12Z"))
  end)

  it("parses year 0001, the zero time of Go", function()
    assert.equal(-62135596800, time.parse("0001-01-01T00:00:00Z"))
  end)

  it("parses the last second of year 9999", function()
    assert.equal(253402300799, time.parse("9999-12-31T23:59:59Z"))
  end)

  it("parses year 0000 as a leap year of the proleptic Gregorian calendar", function()
    assert.equal(-62167219200, time.parse("0000-01-01T00:00:00Z"))
    assert.equal(-62162121600, time.parse("0000-02-29T00:00:00Z"))
  end)

  it("parses times before 1970 as negative numbers", function()
    assert.equal(-1, time.parse("1969-12-31T23:59:59Z"))
  end)

  it("returns an integer on Lua 5.4 when there is no fraction", function()
    local t = time.parse("2024-12-18T23:58:12Z")
    if math.type then assert.equal("integer", math.type(t)) end
  end)

  it("accepts 1 to 9 fractional digits", function()
    local base = 1734566292
    local cases = {
      ["1"] = 0.1, ["12"] = 0.12, ["123"] = 0.123, ["1234"] = 0.1234, ["12345"] = 0.12345,
      ["123456"] = 0.123456, ["1234567"] = 0.1234567, ["12345678"] = 0.12345678,
      ["123456789"] = 0.123456789,
    }
    for digits, frac in pairs(cases) do
      local t = time.parse("2024-12-18T23:58:12." .. digits .. "Z")
      assert.is_true(math.abs(t - (base + frac)) < 1e-6, digits)
    end
  end)

  it("parses an all-zero fraction to the whole second", function()
    assert.equal(1734566292, time.parse("2024-12-18T23:58:12.000000Z"))
  end)

  it("keeps fractions exact enough near the epoch", function()
    assert.equal(0.5, time.parse("1970-01-01T00:00:00.5Z"))
    assert.equal(0.000001, time.parse("1970-01-01T00:00:00.000001Z"))
  end)

  it("rejects a dot without digits and more than 9 fractional digits", function()
    local s = "2024-12-18T23:58:12.Z"
    assert.same({ nil, invalid(s, "expected digits after '.'") }, { time.parse(s) })
    s = "2024-12-18T23:58:12.1234567890Z"
    assert.same({ nil, invalid(s, "more than 9 fractional digits") }, { time.parse(s) })
  end)

  it("applies positive and negative offsets", function()
    assert.equal(0, time.parse("1970-01-01T02:00:00+02:00"))
    assert.equal(0, time.parse("1969-12-31T19:30:00-04:30"))
    assert.equal(0, time.parse("1970-01-01T00:00:00+00:00"))
    assert.equal(0, time.parse("1970-01-01T00:00:00-00:00"))
  end)

  it("applies an offset that crosses a day, month and year boundary", function()
    assert.equal(time.parse("2024-12-31T23:30:00Z"), time.parse("2025-01-01T01:00:00+01:30"))
  end)

  it("combines a fraction and an offset", function()
    assert.equal(0.25, time.parse("1970-01-01T01:00:00.25+01:00"))
  end)

  it("accepts lowercase t and z, and a space separator", function()
    assert.equal(0, time.parse("1970-01-01t00:00:00z"))
    assert.equal(0, time.parse("1970-01-01 00:00:00Z"))
  end)

  it("accepts leap days in leap years", function()
    assert.equal(951782400, time.parse("2000-02-29T00:00:00Z"))
    assert.equal(1709164800, time.parse("2024-02-29T00:00:00Z"))
  end)

  it("rejects leap days in common years, including centuries not divisible by 400", function()
    local s = "2023-02-29T00:00:00Z"
    assert.same({ nil, invalid(s, "day 29 out of range for 2023-02 (1-28)") }, { time.parse(s) })
    s = "1900-02-29T00:00:00Z"
    assert.same({ nil, invalid(s, "day 29 out of range for 1900-02 (1-28)") }, { time.parse(s) })
  end)

  it("checks the day against the length of the month", function()
    local s = "2024-04-31T00:00:00Z"
    assert.same({ nil, invalid(s, "day 31 out of range for 2024-04 (1-30)") }, { time.parse(s) })
    s = "2024-01-00T00:00:00Z"
    assert.same({ nil, invalid(s, "day 0 out of range for 2024-01 (1-31)") }, { time.parse(s) })
    assert.equal(time.parse("2024-02-01T00:00:00Z") - 86400, time.parse("2024-01-31T00:00:00Z"))
  end)

  it("rejects a month out of range", function()
    local s = "2024-13-01T00:00:00Z"
    assert.same({ nil, invalid(s, "month 13 out of range (1-12)") }, { time.parse(s) })
    s = "2024-00-01T00:00:00Z"
    assert.same({ nil, invalid(s, "month 0 out of range (1-12)") }, { time.parse(s) })
  end)

  it("rejects an hour, minute or second out of range", function()
    local s = "2024-01-01T24:00:00Z"
    assert.same({ nil, invalid(s, "hour 24 out of range (0-23)") }, { time.parse(s) })
    s = "2024-01-01T00:60:00Z"
    assert.same({ nil, invalid(s, "minute 60 out of range (0-59)") }, { time.parse(s) })
    s = "2024-01-01T00:00:61Z"
    assert.same({ nil, invalid(s, "second 61 out of range (0-60)") }, { time.parse(s) })
  end)

  it("accepts a leap second as the first second of the next minute", function()
    assert.equal(time.parse("2017-01-01T00:00:00Z"), time.parse("2016-12-31T23:59:60Z"))
  end)

  it("rejects an offset out of range", function()
    local s = "2024-01-01T00:00:00+24:00"
    assert.same({ nil, invalid(s, "offset hour 24 out of range (0-23)") }, { time.parse(s) })
    s = "2024-01-01T00:00:00+01:60"
    assert.same({ nil, invalid(s, "offset minute 60 out of range (0-59)") }, { time.parse(s) })
  end)

  it("rejects a timestamp without a time zone", function()
    local s = "2024-01-01T00:00:00"
    assert.same({ nil, invalid(s, "missing time zone (Z or +HH:MM)") }, { time.parse(s) })
  end)

  it("rejects malformed timestamps with the expected form", function()
    for _, s in ipairs{
      "", "yesterday", "2024-01-01", "2024-1-01T00:00:00Z", "24-01-01T00:00:00Z",
      "2024-01-01X00:00:00Z", "2024-01-01T0:00:00Z", "2024-01-01T00:00Z",
      "2024-01-01T00:00:00+0100", "2024-01-01T00:00:00+01", "2024-01-01T00:00:00ZZ",
      "2024-01-01T00:00:00 Z", " 2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z ",
      "+2024-01-01T00:00:00Z", "2024-01-01T00:00:00UTC",
    } do
      assert.same({ nil, invalid(s, EXPECTED) }, { time.parse(s) }, s)
    end
  end)

  it("escapes control characters and truncates long input in the message", function()
    local _, err = time.parse("2024\n")
    assert.equal(invalid("2024\\10", EXPECTED), err)
    local long = string.rep("9", 100)
    _, err = time.parse(long)
    assert.equal(invalid(string.rep("9", 64) .. "...", EXPECTED), err)
  end)

  it("returns nil and a message for a value that is not a string", function()
    assert.same({ nil, "invalid timestamp: expected a string (got number)" }, { time.parse(12) })
    assert.same({ nil, "invalid timestamp: expected a string (got nil)" }, { time.parse(nil) })
  end)

  it("gives the same answer from its memo as from a fresh parse", function()
    local s = "2024-12-18T23:58:12.5+01:00"
    local first = time.parse(s)
    assert.equal(first, time.parse(s))
    assert.equal(first, time.parse_uncached(s))
  end)

  it("stays correct after its memo fills up and is cleared", function()
    for i = 1, 2000 do
      local s = ("2024-01-01T00:%02d:%02dZ"):format(math.floor(i / 60) % 60, i % 60)
      local t = time.parse(s)
      assert.equal(1704067200 + (math.floor(i / 60) % 60) * 60 + i % 60, t)
    end
  end)
end)

describe("nuon.time's fast parser", function()
  it("agrees with the reference parser on valid and mutated timestamps", function()
    local seeds = {
      "2024-12-18T23:58:12Z", "2024-02-29T00:00:00.123456789+05:30", "0001-01-01t00:00:00z",
      "1999-12-31 23:59:60.5-00:00", "2023-02-28T12:00:00.1Z", "2100-02-28T00:00:00-23:59",
    }
    local alphabet = "0123456789-:.TtZz +x"
    math.randomseed(20241218)
    local checked = 0
    for _, seed in ipairs(seeds) do
      for _ = 1, 2000 do
        local s = seed
        for _ = 1, math.random(0, 2) do
          local i, c = math.random(1, #s), math.random(1, #alphabet)
          local op = math.random(1, 3)
          if op == 1 then       -- replace
            s = s:sub(1, i - 1) .. alphabet:sub(c, c) .. s:sub(i + 1)
          elseif op == 2 then   -- insert
            s = s:sub(1, i - 1) .. alphabet:sub(c, c) .. s:sub(i)
          else                  -- delete
            s = s:sub(1, i - 1) .. s:sub(i + 1)
          end
        end
        local fast = time._parse_fast(s)
        local ref = time._parse_reference(s)
        if fast ~= nil then
          assert.equal(ref, fast, s)
          checked = checked + 1
        end
        assert.equal(ref, time.parse_uncached(s), s)
      end
    end
    assert.is_true(checked > 1000)
  end)
end)

describe("nuon.time.format", function()
  it("formats whole seconds in UTC", function()
    assert.equal("1970-01-01T00:00:00Z", time.format(0))
    assert.equal("2024-12-18T23:58:12Z", time.format(1734566292))
  end)

  it("formats year 0001 and year 9999", function()
    assert.equal("0001-01-01T00:00:00Z", time.format(-62135596800))
    assert.equal("9999-12-31T23:59:59Z", time.format(253402300799))
  end)

  it("formats a fraction to at most 6 digits without trailing zeros", function()
    assert.equal("1970-01-01T00:00:00.5Z", time.format(0.5))
    assert.equal("1970-01-01T00:00:00.123457Z", time.format(0.1234567))
    assert.equal("1970-01-01T00:00:01Z", time.format(0.9999999))
    assert.equal("1969-12-31T23:59:59.75Z", time.format(-0.25))
  end)

  it("round-trips through parse", function()
    for _, s in ipairs{
      "2024-02-29T12:34:56Z", "2000-03-01T00:00:00Z", "1900-03-01T00:00:00Z",
      "0001-01-01T00:00:00Z", "2024-12-18T23:58:12.12345Z", "1600-02-29T23:59:59Z",
    } do
      assert.equal(s, time.format(time.parse(s)))
    end
  end)

  it("raises for anything but a finite number in years 0000 to 9999", function()
    assert.has_error(function() time.format("0") end,
      "nuon.time.format: argument 1 must be a finite number (got string)")
    assert.has_error(function() time.format(math.huge) end,
      "nuon.time.format: argument 1 must be a finite number (got " .. tostring(math.huge) .. ")")
    assert.has_error(function() time.format(253402300800) end,
      "nuon.time.format: epoch 253402300800 is outside years 0000-9999")
  end)
end)

describe("nuon.time.days_from_civil and civil_from_days", function()
  it("are inverse over four centuries", function()
    for z = -146097 * 5, 146097 * 5, 97 do
      local y, m, d = time.civil_from_days(z)
      assert.equal(z, time.days_from_civil(y, m, d))
    end
  end)
end)

describe("nuon.time.to_epoch", function()
  it("returns a number unchanged", function()
    assert.equal(1.5, time.to_epoch(1.5, "since"))
  end)

  it("parses a timestamp string", function()
    assert.equal(86400, time.to_epoch("1970-01-02T00:00:00Z", "since"))
  end)

  it("raises naming the value for a wrong type", function()
    assert.has_error(function() time.to_epoch(true, "opts.since") end,
      "nuon.time.to_epoch: opts.since must be an epoch number or a timestamp string (got boolean)")
    assert.has_error(function() time.to_epoch(0 / 0, "opts.since") end,
      "nuon.time.to_epoch: opts.since must be an epoch number or a timestamp string (got nan)")
    assert.has_error(function() time.to_epoch({}) end,
      "nuon.time.to_epoch: value must be an epoch number or a timestamp string (got table)")
  end)

  it("raises naming the value for a string that does not parse", function()
    assert.has_error(function() time.to_epoch("2024-13-01T00:00:00Z", "opts.until") end,
      "nuon.time.to_epoch: opts.until: invalid timestamp '2024-13-01T00:00:00Z': month 13 out of range (1-12)")
  end)

  it("blames the line that called it", function()
    local ok, err = pcall(time.to_epoch, false, "x")
    assert.is_false(ok)
    assert.equal("nuon.time.to_epoch: x must be an epoch number or a timestamp string (got boolean)", err)
    local function caller() time.to_epoch(false, "x") end
    ok, err = pcall(caller)
    assert.is_false(ok)
    assert.matches("time_spec.lua:%d+: nuon%.time%.to_epoch: x must be", err)
  end)
end)

describe("nuon.time.check_epoch", function()
  it("returns nil and a message instead of raising", function()
    assert.same({ nil, "w must be an epoch number or a timestamp string (got nil)" },
      { time.check_epoch(nil, "w") })
    assert.same({ 0 }, { time.check_epoch("1970-01-01T00:00:00Z", "w") })
  end)
end)
