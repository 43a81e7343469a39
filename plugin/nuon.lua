-- nuon for Neovim: the user commands.  Loaded at startup, so it requires
-- nothing: each command loads nuon.commands (and the C core) on first use.
--   :NuonRuns {install_id}           the install's runs, newest first
--   :NuonRun {install_id} {run_id}   one run as JSON
-- `:checkhealth nuon` checks the core, libcurl and the credentials.
if vim.g.loaded_nuon then return end
vim.g.loaded_nuon = 1

vim.api.nvim_create_user_command("NuonRuns", function(o)
  require("nuon.commands").runs(o.fargs[1])
end, { nargs = 1, desc = "nuon: the sandbox runs of an install" })

vim.api.nvim_create_user_command("NuonRun", function(o)
  require("nuon.commands").run(o.fargs[1], o.fargs[2])
end, { nargs = "+", desc = "nuon: one sandbox run of an install" })
