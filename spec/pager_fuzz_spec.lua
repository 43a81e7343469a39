-- The paging state machine against random servers (spec/fuzz/pager_fuzz.lua):
-- a fixed range of seeds, so a failure here names a seed to replay.
local fuzz = require "fuzz.pager_fuzz"

describe("nuon.pager against random page bodies and headers", function()
  it("ends within a bounded number of fetches, never raises, never repeats a run (20000 seeds)", function()
    local n, problem = fuzz.run(1, nil, 20000)
    assert.is_nil(problem)
    assert.equal(20000, n)
  end)
end)
