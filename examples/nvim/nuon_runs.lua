-- :NuonRuns <install_id> — a scratch buffer with the install's latest sandbox
-- runs, fetched without freezing the editor.
--
--   make LUA=luajit            # in the nuon checkout
--   NUON_ROOT=/path/to/nuon nvim -c "luafile /path/to/nuon/examples/nvim/nuon_runs.lua"
--   :NuonRuns inl4yr2mc0ivkvzq3kkfyokx4f
--
-- Credentials from NUON_API_TOKEN / NUON_ORG_ID / NUON_API_URL or ~/.nuon.
local root = os.getenv("NUON_ROOT") or vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h:h")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/build/luajit/?.so;" .. package.cpath

local nuon = require "nuon"
local nvim = require "nuon.nvim"

local client

local function show(install_id, runs)
  local lines = { ("Sandbox runs of %s"):format(install_id), "" }
  for _, run in ipairs(runs) do
    local job = run.runner_job
    lines[#lines + 1] = ("%s  %s  %-11s  %-15s  %s"):format(run.id, (run.created_at or ""):sub(1, 19),
      run.run_type or "?", run.status or "?", job and job.status or "-")
  end
  vim.cmd("new")
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_option(buf, "buftype", "nofile")
  vim.api.nvim_buf_set_option(buf, "bufhidden", "wipe")
  vim.api.nvim_buf_set_option(buf, "swapfile", false)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.api.nvim_buf_set_option(buf, "modifiable", false)
end

vim.api.nvim_create_user_command("NuonRuns", function(cmd)
  local install_id = cmd.args
  client = client or nuon.new{ user_agent = "nuon-nvim-example" }
  vim.notify("nuon: fetching runs of " .. install_id .. " ...")
  nvim.sandbox_runs(client, install_id, { limit = 20 }, function(runs, err)
    if not runs then
      vim.notify("nuon: " .. tostring(err), vim.log.levels.ERROR)
      return
    end
    show(install_id, runs)
  end)
end, { nargs = 1 })
