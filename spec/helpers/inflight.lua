-- spec/helpers/inflight.lua: the most sandbox-runs requests the test server
-- was answering at once, from its request log (each entry from its arrival,
-- `time`, to its answer, `answered`).  Pure Lua: the Neovim suite, which
-- cannot load LuaSocket, uses it too.
return function(requests)
  local events = {}
  for _, r in ipairs(requests) do
    if r.install_id and r.answered then
      events[#events + 1] = { r.time, 1 }
      events[#events + 1] = { r.answered, -1 }
    end
  end
  table.sort(events, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2] -- an answer before an arrival at the same instant
  end)
  local n, most = 0, 0
  for _, e in ipairs(events) do
    n = n + e[2]
    if n > most then most = n end
  end
  return most
end

