-- luacheck configuration: `luacheck lua spec examples bench` (make lint).
-- Library code may use no globals beyond the standard library of any Lua
-- version we support (std "max" = the union of 5.1 to 5.4 and LuaJIT).
std = "max"
codes = true
max_line_length = 120

exclude_files = { "build/", ".luarocks/", "lua_modules/" }

-- busted specs and helpers: describe, it, assert, spy, stub, ...
files["spec"] = { std = "+busted" }
files["spec/server"] = { std = "max" }
-- the headless Neovim suites use Neovim's global (and replace vim.notify)
files["spec/nvim"] = { globals = { "vim" } }
files["plugin"] = { globals = { "vim" } }

-- runnable examples for OpenResty and Neovim read their host's global
files["examples"] = { read_globals = { "ngx", "vim" } }
