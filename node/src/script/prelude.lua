-- Sets up the scripting sandbox. Runs once per Lua state, with the real globals,
-- before they are hidden behind a read-only proxy. `rt` holds the Rust helpers.
local rt = ...
local G = _G
local getinfo = debug.getinfo
local type, error, tostring, setmetatable, rawget, select = type, error, tostring, setmetatable, rawget, select
local rawset_real, rawpcall, rawxpcall = rawset, pcall, xpcall
local resume, loadstring_real, concat = coroutine.resume, loadstring, table.concat

-- Removed as Redis does (and `print`, which Redis 7 has not either).
for _, name in ipairs({'loadfile', 'dofile', 'print', 'setfenv', 'getfenv', 'newproxy',
                       'module', 'require', 'package', 'io', 'os', 'debug'}) do
  G[name] = nil
end

local protected = setmetatable({}, {__mode = 'k'})
local function ro() error('Attempt to modify a readonly table', 2) end
local function readonly(t)
  local p = setmetatable({}, {__index = t, __newindex = ro, __metatable = false})
  protected[p] = true
  protected[t] = true
  return p
end

-- A script's error: a table {err=...} as Redis raises it; a string otherwise.
local function unerr(ok, ...)
  if ok then return true, ... end
  if rt.aborted() then error((...), 0) end
  local e = (...)
  if type(e) == 'table' and type(rawget(e, 'err')) == 'string' then
    e = rawget(e, 'err')
  elseif type(e) == 'userdata' and e ~= rt.null then
    e = rt.unwrap(e)
  end
  return false, e
end

G.pcall = function(f, ...) return unerr(rawpcall(f, ...)) end
G.xpcall = function(f, h) return unerr(rawxpcall(f, h)) end
G.rawset = function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return rawset_real(t, k, v)
end
-- No bytecode: only source text may be loaded.
G.loadstring = function(s, name)
  if type(s) == 'string' and s:byte(1) == 27 then return nil, 'bytecode is not allowed' end
  return loadstring_real(s, name)
end
G.load = function(f, name)
  if type(f) ~= 'function' then return nil, 'bad argument #1 to load (function expected)' end
  local parts = {}
  for _ = 1, 1000000 do
    local piece = f()
    if piece == nil or piece == '' then break end
    if type(piece) ~= 'string' then return nil, 'reader function must return a string' end
    parts[#parts + 1] = piece
  end
  return G.loadstring(concat(parts), name)
end

local co = {}
for k, v in pairs(coroutine) do co[k] = v end
co.resume = function(c, ...) return unerr(resume(c, ...)) end
G.coroutine = co

local redis = {}
redis.call = rt.redis_call
redis.pcall = rt.redis_pcall
redis.error_reply = function(msg)
  if type(msg) ~= 'string' then error('wrong number or type of arguments', 2) end
  -- As Redis' luaPushErrorBuff: a message without an error code gets ERR.
  if msg:sub(1, 1) == '-' then msg = msg:sub(2) end
  if not msg:find(' ', 1, true) then msg = 'ERR ' .. msg end
  return {err = msg}
end
redis.status_reply = function(msg)
  if type(msg) ~= 'string' then error('wrong number or type of arguments', 2) end
  return {ok = msg}
end
redis.sha1hex = function(s)
  if type(s) ~= 'string' and type(s) ~= 'number' then
    error('wrong number of arguments', 2)
  end
  return rt.sha1hex(tostring(s))
end
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.log = function(level, ...)
  local n = select('#', ...)
  if n < 1 then error('redis.log() requires two arguments or more.', 2) end
  if type(level) ~= 'number' or level < 0 or level > 3 then error('Invalid debug level.', 2) end
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  rt.log(level, concat(parts, ' '))
end
redis.setresp = function(v)
  if v ~= 2 and v ~= 3 then error('RESP version must be 2 or 3.', 2) end
  rt.setresp(v)
end
redis.set_repl = function() end
redis.replicate_commands = function() return true end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.breakpoint = function() return false end
redis.debug = function() end
redis.REDIS_VERSION = rt.version
redis.REDIS_VERSION_NUM = rt.version_num
G.redis = readonly(redis)

local cjson = {null = rt.null}
cjson.encode = function(v)
  local s, e = rt.cjson_encode(v)
  if e then error(e, 0) end
  return s
end
cjson.decode = function(s)
  if type(s) ~= 'string' then error('bad argument #1 to \'decode\' (string expected)', 2) end
  local v, e = rt.cjson_decode(s)
  if e then error(e, 0) end
  return v
end
G.cjson = readonly(cjson)

local struct = {}
for k, f in pairs(rt.struct) do struct[k] = f end
G.struct = readonly(struct)

local bit = {}
for k, f in pairs(rt.bit) do bit[k] = f end
G.bit = readonly(bit)

for _, name in ipairs({'string', 'math', 'table', 'coroutine'}) do
  G[name] = readonly(G[name])
end
-- Methods on strings ("x"):upper() look through the protected string table.
local smt = getmetatable('')
smt.__index = G.string
smt.__metatable = readonly({__index = G.string})

-- The top-level error handler (Redis' __redis__err__handler): the error as a table
-- with the line of the script that raised it.
local function handler(err)
  local line, source
  for level = 2, 64 do
    local i = getinfo(level, 'Sl')
    if not i then break end
    if i.source == '@user_script' then
      line, source = i.currentline, i.source
      break
    end
  end
  local msg
  if type(err) == 'table' and rawget(err, 'err') ~= nil then
    msg = tostring(rawget(err, 'err'))
  elseif type(err) == 'userdata' and err ~= rt.null then
    msg = rt.unwrap(err)
  else
    msg = 'ERR ' .. tostring(err)
  end
  return {err = msg, source = source, line = line}
end

-- Globals: read-only, and reading one that does not exist is an error (Redis).
local proxy = setmetatable({}, {
  __index = function(_, k)
    local v = G[k]
    if v == nil then
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end
    return v
  end,
  __newindex = ro,
  __metatable = false,
})
protected[proxy] = true
protected[G] = true
G._G = proxy

-- Runs a compiled script; returns true, result or false, error table.
local function run(f)
  return rawxpcall(f, handler)
end
return proxy, run
