-- Constants shared by the test API server (nginx), spec/helpers/testserver.lua
-- and the specs: the test credentials and the demo installs preloaded at start.
local generator = require "server.generator"

return {
  token = "nuon-test-token",
  org_id = generator.ORG_ID,           -- "orgnuontestorg000000000001"
  -- Preloaded at server start and restored by POST /__nuon/reset.
  demo = {
    { id = "inldemo25runsmixed00000001", count = 25, flavor = "mixed", seed = 1 },
    { id = "inldemo120runsmixed0000002", count = 120, flavor = "mixed", seed = 2 },
    { id = "inldemo250runsmixed0000003", count = 250, flavor = "mixed", seed = 3 },
  },
  max_limit = 100,        -- pagination middleware maxLimit
  default_limit = 10,     -- pagination middleware default limit
  request_log_size = 2000, -- GET /__nuon/requests keeps the newest this many
}
