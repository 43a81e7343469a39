-- spec/nvim/tap.lua: the TAP output of the headless-Neovim suites (run.lua,
-- plugin.lua), loaded with dofile so that it needs nothing on package.path.
--   local tap = dofile(root .. "/spec/nvim/tap.lua")
--   tap.test(name, fn); tap.check(cond, msg); tap.finish()  -- plan, then quit
local M = {}
local n, failed = 0, 0

function M.test(name, fn)
  n = n + 1
  local ok, err = pcall(fn)
  if ok then
    io.stdout:write(("ok %d - %s\n"):format(n, name))
  else
    failed = failed + 1
    io.stdout:write(("not ok %d - %s\n# %s\n"):format(n, name, tostring(err):gsub("\n", "\n# ")))
  end
end

function M.check(cond, msg)
  if not cond then error(msg or "assertion failed", 2) end
end

-- Prints the plan and quits Neovim, with a non-zero status when a test failed.
function M.finish()
  io.stdout:write(("1..%d\n"):format(n))
  io.stdout:flush()
  vim.cmd(failed == 0 and "qall!" or "cquit!")
end

return M
