-- spec/helpers/select_loop.lua: drives a non-blocking nuon.request or
-- nuon.batch with a select() loop, the way an event loop (libuv, nginx, ...)
-- would: wait on req:sockets() for at most req:timeout(), then step.
--   local result, turns = require("helpers.select_loop")(req [, on_turn])
local socket = require "socket"

-- LuaSocket's select takes objects with a getfd method
local function fdobj(fd) return { getfd = function() return fd end } end

-- Drives req to the end; returns its result and how many loop turns it took.
return function(req, on_turn)
  local turns = 0
  while not req:done() do
    turns = turns + 1
    if on_turn then on_turn(turns) end
    local r, w, objs = {}, {}, {}
    for fd, ev in pairs(req:sockets()) do
      local o = fdobj(fd)
      objs[o] = fd
      if ev:find("r") then r[#r + 1] = o end
      if ev:find("w") then w[#w + 1] = o end
    end
    local t = req:timeout()
    local wait = 0.05
    if t and t < wait then wait = t end
    local rr, ww = socket.select(r, w, wait)
    local stepped = false
    for _, o in ipairs(rr) do req:step(objs[o], "r") stepped = true end
    for _, o in ipairs(ww) do req:step(objs[o], "w") stepped = true end
    if not stepped then req:step() end
  end
  return req:result(), turns
end
