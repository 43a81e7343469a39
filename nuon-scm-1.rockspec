-- LuaRocks build of nuon: the C core nuon.core plus the Lua facade.
-- `luarocks make --lua-version=5.4` builds it from this working tree, offline.
rockspec_format = "3.0"
package = "nuon"
version = "scm-1"
source = {
  url = "git+https://github.com/nuonco/lua-nuon.git",
}
description = {
  summary = "Lua client for Nuon's sandbox-runs API, with a C core",
  detailed = [[
Lists the provision, reprovision and deprovision runs of a Nuon install's
sandbox: libcurl with keep-alive, retries and timeouts, a single-pass
validating JSON decoder in C, pagination and filtering helpers, a Neovim
plugin and the nuon-runs command. Works on Lua 5.1 to 5.4 and LuaJIT 2.1
(OpenResty, Neovim).
]],
  license = "MIT",
  labels = { "nuon", "api", "http", "curl", "json" },
}
dependencies = {
  "lua >= 5.1",
}
external_dependencies = {
  -- Debian keeps curl/curl.h in the multiarch include directory
  -- (/usr/include/<triplet>/curl), which LuaRocks 3.8 does not search: only
  -- the library is looked up here, and the multiarch include directories are
  -- added for Linux below (a directory that does not exist is harmless).
  CURL = { library = "curl" },
}
build = {
  type = "builtin",
  modules = {
    ["nuon.core"] = {
      sources = {
        "src/core.c", "src/error.c", "src/decode.c", "src/schema.c",
        "src/protocol.c", "src/response.c", "src/exchange.c",
        "src/http.c", "src/transfer.c", "src/backoff.c", "src/multi.c",
        "src/request.c", "src/watch.c",
      },
      defines = { "_POSIX_C_SOURCE=200809L" },
      incdirs = { "src", "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
      libraries = { "curl" },
    },
    ["nuon"] = "lua/nuon/init.lua",
    ["nuon.client"] = "lua/nuon/client.lua",
    ["nuon.config"] = "lua/nuon/config.lua",
    ["nuon.filter"] = "lua/nuon/filter.lua",
    ["nuon.time"] = "lua/nuon/time.lua",
    ["nuon.pager"] = "lua/nuon/pager.lua",
    ["nuon.fleet"] = "lua/nuon/fleet.lua",
    ["nuon.args"] = "lua/nuon/args.lua",
    ["nuon.errors"] = "lua/nuon/errors.lua",
    ["nuon.resty"] = "lua/nuon/resty.lua",
    ["nuon.cosocket"] = "lua/nuon/cosocket.lua",
    ["nuon.nvim"] = "lua/nuon/nvim.lua",
    ["nuon.wait"] = "lua/nuon/wait.lua",
    ["nuon.summary"] = "lua/nuon/summary.lua",
    ["nuon.format"] = "lua/nuon/format.lua",
    ["nuon.cli"] = "lua/nuon/cli.lua",
    ["nuon.commands"] = "lua/nuon/commands.lua",
    ["nuon.health"] = "lua/nuon/health.lua",
  },
  install = {
    -- LuaRocks puts a wrapper on PATH that runs it with this tree's Lua
    bin = { ["nuon-runs"] = "bin/nuon-runs" },
  },
  platforms = {
    linux = {
      modules = {
        ["nuon.core"] = {
          incdirs = {
            "src", "$(CURL_INCDIR)",
            "/usr/include/x86_64-linux-gnu", "/usr/include/aarch64-linux-gnu",
            "/usr/include/arm-linux-gnueabihf", "/usr/include/i386-linux-gnu",
            "/usr/include/powerpc64le-linux-gnu", "/usr/include/s390x-linux-gnu",
            "/usr/include/riscv64-linux-gnu",
          },
        },
      },
    },
  },
}
test = {
  type = "command",
  command = "make test",
}
