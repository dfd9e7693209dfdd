-- rt: apply one batch of a partition's state mutations, atomically and fenced.
--
-- KEYS[1]  the partition's meta hash (fields: epoch, applied, applied_token)
-- ARGV[1]  the caller's epoch (its fencing token, from HINCRBY meta epoch 1)
-- ARGV[2]  the log offset of the last record of the batch
-- ARGV[3]  the prefix every op key must start with: "<prefix>:{p<N>}:"
-- ARGV[4]  the ops: a msgpack array of [tag, key, args...] arrays, exactly as
--          msgspec encodes runtime.state.store's Op structs (array_like, int tags)
-- ARGV[5]  a token unique to this apply call, stored beside the offset, so that a
--          client retrying after a lost reply can tell its own write from a re-apply
--
-- Returns {1, offset} when applied; {0, applied, token} when offset <= applied,
-- having done nothing (a re-apply, invariant 1); {-1, current_epoch} when the
-- caller was fenced by a newer owner (invariant 2).
--
-- Every op is decoded and validated (key inside the partition, argument types,
-- the type of the Redis value it touches, the fencing fields untouched) before
-- the first write, so a bad batch is rejected whole: scripts have no rollback,
-- and a half-applied batch re-applied later would duplicate list appends. The
-- first pass also touches every key (TYPE), so in a Redis Cluster a slot
-- migration surfaces as an error before anything is written.
--
-- Why a hand-written msgpack reader: Redis' bundled cmsgpack rejects the bin
-- family msgspec uses for bytes, and a flat ARGV layout costs the Python side
-- one argument per field to pack. This reader handles the subset msgspec emits.

local meta = KEYS[1]
local cur = tonumber(redis.call('HGET', meta, 'epoch') or '0')
if cur ~= tonumber(ARGV[1]) then
  return {-1, cur}
end
local applied = tonumber(redis.call('HGET', meta, 'applied') or '-1')
local offset = tonumber(ARGV[2])
if offset <= applied then
  return {0, applied, redis.call('HGET', meta, 'applied_token') or ''}
end

local byte, sub, find, sunpack = string.byte, string.sub, string.find, struct.unpack
local blob = ARGV[4]

local decode

local function decode_array(pos, n)
  local t = {}
  for i = 1, n do
    t[i], pos = decode(pos)
  end
  return t, pos
end

-- Returns the value at pos and the position after it. Ordered by frequency.
decode = function(pos)
  local b, n = byte(blob, pos, pos + 1)
  if b == 0xd9 or b == 0xc4 then -- str 8, bin 8
    local e = pos + 1 + n
    return sub(blob, pos + 2, e), e + 1
  end
  if b < 0x80 then return b, pos + 1 end -- positive fixint
  if b >= 0xa0 and b < 0xc0 then -- fixstr
    local e = pos + b - 0xa0
    return sub(blob, pos + 1, e), e + 1
  end
  if b >= 0x90 and b < 0xa0 then return decode_array(pos + 1, b - 0x90) end
  if b == 0xc5 or b == 0xda then -- bin 16, str 16
    local e = pos + 2 + sunpack('>I2', blob, pos + 1)
    return sub(blob, pos + 3, e), e + 1
  end
  if b == 0xc6 or b == 0xdb then -- bin 32, str 32
    local e = pos + 4 + sunpack('>I4', blob, pos + 1)
    return sub(blob, pos + 5, e), e + 1
  end
  if b == 0xcb then return sunpack('>d', blob, pos + 1) end
  if b >= 0xe0 then return b - 0x100, pos + 1 end -- negative fixint
  if b == 0xcc then return n, pos + 2 end
  if b == 0xcd then return sunpack('>I2', blob, pos + 1) end
  if b == 0xce then return sunpack('>I4', blob, pos + 1) end
  if b == 0xcf or b == 0xd3 then -- 64-bit ints: exact up to 2^53, as Lua numbers are
    local hi, lo = sunpack((b == 0xcf and '>I4' or '>i4') .. '>I4', blob, pos + 1)
    return hi * 4294967296 + lo, pos + 9
  end
  if b == 0xd0 then return sunpack('>i1', blob, pos + 1) end
  if b == 0xd1 then return sunpack('>i2', blob, pos + 1) end
  if b == 0xd2 then return sunpack('>i4', blob, pos + 1) end
  if b == 0xca then return sunpack('>f', blob, pos + 1) end
  -- nil and booleans are never valid arguments; false (not nil) keeps arrays free
  -- of holes, so validation sees every element.
  if b == 0xc0 or b == 0xc2 then return false, pos + 1 end
  if b == 0xc3 then return true, pos + 1 end
  if b == 0xdc then return decode_array(pos + 3, sunpack('>I2', blob, pos + 1)) end
  if b == 0xdd then return decode_array(pos + 5, sunpack('>I4', blob, pos + 1)) end
  error('rt-invalid-ops: unsupported msgpack byte ' .. b .. ' at ' .. pos)
end

-- Op tags (runtime/state/store.py). NEVER reuse a number for another op.
local SET, DEL, HSET, HDEL, RPUSH, LPOP, LREM, ZADD, ZREM, PEXPIRE, LTRIM, ZTRIM =
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
-- Header byte of each op's msgpack array (fixarray of tag + key + args).
local HEADER = {[SET] = 0x93, [DEL] = 0x92, [HSET] = 0x94, [HDEL] = 0x93, [RPUSH] = 0x93,
                [LPOP] = 0x92, [LREM] = 0x94, [ZADD] = 0x94, [ZREM] = 0x93, [PEXPIRE] = 0x93,
                [LTRIM] = 0x94, [ZTRIM] = 0x95}
-- The Redis type an op needs its key to hold (or not exist); other ops take any.
local NEEDS = {[HSET] = 'hash', [HDEL] = 'hash', [RPUSH] = 'list', [LPOP] = 'list',
               [LREM] = 'list', [LTRIM] = 'list', [ZADD] = 'zset', [ZREM] = 'zset',
               [ZTRIM] = 'zset'}

-- Meta hash fields only this script and claim() may write.
local RESERVED = {epoch = true, applied = true, applied_token = true}

local function invalid(i, why)
  return redis.error_reply('rt-invalid-ops: op #' .. (i - 1) .. ': ' .. why)
end

local function bulk(x)
  local t = type(x)
  return t == 'string' or t == 'number'
end

local count, pos
do
  local b = byte(blob, 1)
  if b == nil then return redis.error_reply('rt-invalid-ops: empty ops blob') end
  if b >= 0x90 and b < 0xa0 then count, pos = b - 0x90, 2
  elseif b == 0xdc then count, pos = sunpack('>I2', blob, 2), 4
  elseif b == 0xdd then count, pos = sunpack('>I4', blob, 2), 6
  else return redis.error_reply('rt-invalid-ops: the ops blob is not a msgpack array') end
end

local pfx = ARGV[3]
local tags, keys, xs, ys, zs = {}, {}, {}, {}, {}
local types = {}

-- Pass 1: decode and validate everything, write nothing.
for i = 1, count do
  local h, tag, kb, kn = byte(blob, pos, pos + 3)
  local header = HEADER[tag]
  if header == nil or h ~= header then
    return invalid(i, 'unknown op or wrong field count (tag ' .. tostring(tag) .. ')')
  end
  local key, x, y, z
  if kb == 0xd9 then -- keys are 32..255 bytes long: str 8, inline for speed
    local e = pos + 3 + kn
    key, pos = sub(blob, pos + 4, e), e + 1
  else
    key, pos = decode(pos + 2)
  end
  if h >= 0x93 then x, pos = decode(pos) end
  if h >= 0x94 then y, pos = decode(pos) end
  if h == 0x95 then z, pos = decode(pos) end
  if type(key) ~= 'string' or find(key, pfx, 1, true) ~= 1 then
    return invalid(i, 'key outside the partition: ' .. tostring(key))
  end
  if key == meta and ((tag ~= HSET and tag ~= HDEL) or RESERVED[x]) then
    return invalid(i, 'the fencing fields of the meta hash are reserved')
  end
  if tag == SET or tag == HDEL or tag == ZREM then
    if not bulk(x) then return invalid(i, 'argument must be bytes or str') end
  elseif tag == HSET then
    if not (bulk(x) and bulk(y)) then return invalid(i, 'field and value must be bytes or str') end
  elseif tag == RPUSH then
    if type(x) ~= 'table' then return invalid(i, 'values must be a list') end
    for j = 1, #x do
      if not bulk(x[j]) then return invalid(i, 'values must be bytes or str') end
    end
  elseif tag == ZADD then
    if type(x) ~= 'number' or x ~= x then return invalid(i, 'score must be a number') end
    if not bulk(y) then return invalid(i, 'member must be bytes or str') end
  elseif tag == LREM then
    if not bulk(x) then return invalid(i, 'value must be bytes or str') end
    if type(y) ~= 'number' or y % 1 ~= 0 then return invalid(i, 'count must be an int') end
  elseif tag == PEXPIRE then
    if type(x) ~= 'number' or x % 1 ~= 0 then return invalid(i, 'ms must be an int') end
  elseif tag == LTRIM then
    if type(x) ~= 'number' or x % 1 ~= 0 or type(y) ~= 'number' or y % 1 ~= 0 then
      return invalid(i, 'start and stop must be ints')
    end
  elseif tag == ZTRIM then
    if type(x) ~= 'string' or find(x, pfx, 1, true) ~= 1 or x == meta then
      return invalid(i, 'second key outside the partition: ' .. tostring(x))
    end
    if type(y) ~= 'number' or y ~= y then return invalid(i, 'max score must be a number') end
    if type(z) ~= 'number' or z % 1 ~= 0 or z < 1 then
      return invalid(i, 'limit must be a positive int')
    end
    local other = types[x]
    if other == nil then other = redis.call('TYPE', x)['ok'] end
    if other ~= 'zset' and other ~= 'none' then
      return invalid(i, x .. ' holds a ' .. other .. ', not a zset')
    end
  end
  local have = types[key]
  if have == nil then
    have = redis.call('TYPE', key)['ok']
  end
  local need = NEEDS[tag]
  if need ~= nil then
    if have ~= need and have ~= 'none' then
      return invalid(i, key .. ' holds a ' .. have .. ', not a ' .. need)
    end
    have = need
  elseif tag == SET then
    have = 'string'
  elseif tag == DEL or (tag == PEXPIRE and x <= 0) then
    have = 'none'
  end
  types[key] = have
  tags[i], keys[i], xs[i], ys[i], zs[i] = tag, key, x, y, z
end
if pos ~= #blob + 1 then
  return redis.error_reply('rt-invalid-ops: trailing bytes after the ops array')
end

-- Pass 2: write.
local call, unpack, min = redis.call, unpack, math.min
for i = 1, count do
  local tag, key = tags[i], keys[i]
  if tag == SET then call('SET', key, xs[i])
  elseif tag == HSET then call('HSET', key, xs[i], ys[i])
  elseif tag == RPUSH then
    local vs = xs[i]
    local n = #vs
    for j = 1, n, 1000 do -- unpack() is bounded by the Lua C stack
      call('RPUSH', key, unpack(vs, j, min(j + 999, n)))
    end
  elseif tag == DEL then call('DEL', key)
  elseif tag == HDEL then call('HDEL', key, xs[i])
  elseif tag == ZADD then call('ZADD', key, xs[i], ys[i])
  elseif tag == ZREM then call('ZREM', key, xs[i])
  elseif tag == PEXPIRE then call('PEXPIRE', key, xs[i])
  elseif tag == LPOP then call('LPOP', key)
  elseif tag == LREM then call('LREM', key, ys[i], xs[i])
  elseif tag == LTRIM then call('LTRIM', key, xs[i], ys[i])
  elseif tag == ZTRIM then
    local ids = call('ZRANGEBYSCORE', key, '-inf', ys[i], 'LIMIT', 0, zs[i])
    local n = #ids
    for j = 1, n, 1000 do
      call('ZREM', key, unpack(ids, j, min(j + 999, n)))
      call('ZREM', xs[i], unpack(ids, j, min(j + 999, n)))
    end
  end
end

redis.call('HSET', meta, 'applied', ARGV[2], 'applied_token', ARGV[5])
return {1, offset}
