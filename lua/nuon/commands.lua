--- nuon.commands: what Neovim's `:NuonRuns` and `:NuonRun` do (plugin/nuon.lua
-- defines the commands and loads this module on first use).
--
-- Requests go through `nuon.nvim` on `vim.loop`, so the editor never waits;
-- results open in scratch buffers; errors go to `vim.notify`.
--
--   :NuonRuns {install_id}           every run, newest first, in a split:
--                                    id, created, type, status, job status;
--                                    <CR> shows the run under the cursor, q closes
--   :NuonRun {install_id} {run_id}   one run as JSON in a split; q closes
--
-- @module nuon.commands
local core = require "nuon.core"

local _M = { _VERSION = core.VERSION }

local function vim_() return rawget(_G, "vim") end

local function notify(msg, level)
  local vim = vim_()
  vim.notify("nuon: " .. msg, level or vim.log.levels.ERROR)
end

-- A client for one command, or nil after telling the user why not.
local function new_client()
  local nuon = require "nuon"
  local ok, client = pcall(nuon.new, { user_agent = "nuon.nvim/" .. nuon.VERSION })
  if ok then return client end
  notify((tostring(client):gsub("^[^\n]-:%d+: ", ""):gsub("^nuon%.new: ", "")))
  return nil
end

-- A scratch buffer named `name` (replacing one of that name) in a new split.
local function scratch(name, lines, filetype)
  local vim = vim_()
  local old = vim.fn.bufnr(name)
  if old ~= -1 then vim.api.nvim_buf_delete(old, { force = true }) end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(buf, name)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].modifiable = false
  if filetype then vim.bo[buf].filetype = filetype end
  vim.cmd("split")
  vim.api.nvim_win_set_buf(0, buf)
  vim.keymap.set("n", "q", function()
    if #vim.api.nvim_list_wins() > 1 then vim.api.nvim_win_close(0, true)
    else vim.api.nvim_buf_delete(buf, { force = true }) end
  end, { buffer = buf, nowait = true, desc = "close" })
  return buf
end

local function set_lines(buf, lines)
  local vim = vim_()
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
end

--- Shows one run as pretty JSON in a split (buffer `nuon://run/<id>`).
-- @tparam table run
-- @return the buffer
function _M.show_run(run)
  local text = require("nuon.format").json(run, { indent = "  " })
  local lines = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  return scratch("nuon://run/" .. tostring(run.id), lines, "json")
end

-- The run `run_id` of an install, without blocking: callback(run) or
-- callback(nil, err).  One request for the run (nvim.sandbox_run); a server
-- without that route (gin's plain 404, before October 2025) gets the page
-- scan instead, as wait_sandbox_run does (nuon.wait.route_missing).
local function fetch_run(client, install_id, run_id, callback)
  local nvim, wait = require "nuon.nvim", require "nuon.wait"
  local function not_found()
    return require("nuon.errors").new("http", ("run %s not found (install %s)"):format(run_id, install_id),
      { status = 404, retryable = false })
  end
  return nvim.sandbox_run(client, install_id, run_id, nil, function(run, err)
    if run then
      if #run.warnings == 0 then run.warnings = nil end -- nothing to show
      return callback(run)
    end
    if not wait.route_missing(err) then
      return callback(nil, wait.not_found(err) and not_found() or err)
    end
    nvim.all_sandbox_runs(client, install_id, {
      max = 1, where = { fn = function(r) return r.id == run_id end },
    }, function(runs, err2)
      if not runs then return callback(nil, err2) end
      if not runs[1] then return callback(nil, not_found()) end
      callback(runs[1])
    end)
  end)
end

--- `:NuonRuns {install_id}`: every run of the install in a split, newest
-- first; `<CR>` on a run shows it, `q` closes.
-- @tparam string install_id
-- @return the buffer, or nil when no request could start
function _M.runs(install_id)
  local vim = vim_()
  if type(install_id) ~= "string" or install_id == "" then
    notify("usage: :NuonRuns {install_id}")
    return nil
  end
  local client = new_client()
  if not client then return nil end
  local buf = scratch("nuon://runs/" .. install_id, { "loading the runs of " .. install_id .. " ..." }, "nuon")
  require("nuon.nvim").all_sandbox_runs(client, install_id, nil, function(runs, err)
    client:close()
    if not vim.api.nvim_buf_is_valid(buf) then return end -- closed while loading
    if not runs then
      set_lines(buf, { "error: " .. tostring(err and err.message or err) })
      return notify(tostring(err and err.message or err))
    end
    local fmt = require "nuon.format"
    local lines = fmt.table(fmt.run_rows(runs), fmt.RUN_COLUMNS)
    if #runs == 0 then lines[#lines + 1] = "(no runs)" end
    set_lines(buf, lines)
    vim.keymap.set("n", "<CR>", function()
      local run = runs[vim.api.nvim_win_get_cursor(0)[1] - 1] -- line 1 is the header
      if run then _M.show_run(run) end
    end, { buffer = buf, desc = "show this run" })
  end)
  return buf
end

--- `:NuonRun {install_id} {run_id}`: the run as JSON in a split.
-- @tparam string install_id
-- @tparam string run_id
function _M.run(install_id, run_id)
  if type(install_id) ~= "string" or install_id == "" or type(run_id) ~= "string" or run_id == "" then
    notify("usage: :NuonRun {install_id} {run_id}")
    return
  end
  local client = new_client()
  if not client then return end
  fetch_run(client, install_id, run_id, function(run, err)
    client:close()
    if not run then return notify(tostring(err and err.message or err)) end
    _M.show_run(run)
  end)
end

return _M
