/**
 * The Lua scripts every shared policy runs: each decision is one atomic script call. Times are
 * milliseconds from the `now` argument, or from the server's `TIME` when it is empty (the default:
 * one clock for every process, whatever their machines' clocks say). Numbers that may be
 * fractional travel as strings both ways: Redis truncates Lua numbers in replies.
 */

// Shared prelude: the time, and a bucket refill identical to the in-memory RateLimiter's.
const NOW = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

const BUCKETS = `
local function load_buckets(key, reqCap, tokCap)
  local st = redis.call('HMGET', key, 'rl', 'tl', 'ts', 'bu')
  local rl = tonumber(st[1]) or reqCap
  local tl = tonumber(st[2]) or tokCap
  local ts = tonumber(st[3]) or now
  local bu = tonumber(st[4]) or 0
  local dt = now - ts
  if dt > 0 then
    if reqCap >= 0 and rl < reqCap then rl = math.min(reqCap, rl + dt * reqCap / 60000) end
    if tokCap >= 0 and tl < tokCap then tl = math.min(tokCap, tl + dt * tokCap / 60000) end
  end
  return rl, tl, bu
end
local function save_buckets(key, reqCap, tokCap, rl, tl, bu)
  -- The state expires once both buckets would be full again: a missing key reads as full.
  local ttl = 1000
  if reqCap > 0 then ttl = math.max(ttl, (reqCap - rl) * 60000 / reqCap) end
  if tokCap > 0 then ttl = math.max(ttl, (tokCap - tl) * 60000 / tokCap) end
  ttl = math.max(ttl, bu - now)
  redis.call('HSET', key, 'rl', tostring(rl), 'tl', tostring(tl), 'ts', now, 'bu', bu)
  redis.call('PEXPIRE', key, math.ceil(ttl) + 1000)
end
`;

/**
 * Strict admission. KEYS: buckets, slots. ARGV: now, reqCap (-1 none), tokCap (-1 none),
 * requests, tokens, maxConcurrent (-1 none), leaseId, leaseMs.
 * Returns {1, now} granted, or {0, waitMs, reason} ('slots' | 'rate').
 */
export const RATE_ACQUIRE = `${NOW}${BUCKETS}
local reqCap = tonumber(ARGV[2])
local tokCap = tonumber(ARGV[3])
local req = tonumber(ARGV[4])
local tok = tonumber(ARGV[5])
local maxc = tonumber(ARGV[6])
local leaseMs = tonumber(ARGV[8])
if maxc >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= maxc then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {0, math.max(1, math.ceil(tonumber(first[2]) - now)), 'slots'}
  end
end
if reqCap >= 0 or tokCap >= 0 then
  local rl, tl, bu = load_buckets(KEYS[1], reqCap, tokCap)
  local wait = 0
  if now < bu then wait = bu - now end
  if reqCap >= 0 then
    local need = math.min(req, reqCap) - rl
    if need > 1e-9 then wait = math.max(wait, need * 60000 / reqCap) end
  end
  if tokCap >= 0 then
    local need = math.min(tok, tokCap) - tl
    if need > 1e-9 then wait = math.max(wait, need * 60000 / tokCap) end
  end
  if wait > 0 then return {0, math.max(1, math.ceil(wait)), 'rate'} end
  if reqCap >= 0 then rl = rl - req end
  if tokCap >= 0 then tl = tl - tok end
  save_buckets(KEYS[1], reqCap, tokCap, rl, tl, bu)
end
if maxc >= 0 then
  redis.call('ZADD', KEYS[2], now + leaseMs, ARGV[7])
  redis.call('PEXPIRE', KEYS[2], leaseMs * 2)
end
return {1, now}
`;

/**
 * Ends a strict permit. KEYS: buckets, slots. ARGV: now, reqCap, tokCap, leaseId, charged tokens,
 * actual tokens ('' = unknown), refunded requests, channel ('' = none).
 * Frees the slot (and says so on the channel), corrects the token bucket by actual - charged,
 * gives back refunded requests (a permit granted to a waiter that had gone).
 */
export const RATE_RELEASE = `${NOW}${BUCKETS}
local reqCap = tonumber(ARGV[2])
local tokCap = tonumber(ARGV[3])
local charged = tonumber(ARGV[5])
local actual = tonumber(ARGV[6])
local refund = tonumber(ARGV[7])
local freed = redis.call('ZREM', KEYS[2], ARGV[4])
if (actual and tokCap >= 0) or (refund > 0 and reqCap >= 0) then
  local rl, tl, bu = load_buckets(KEYS[1], reqCap, tokCap)
  if actual and tokCap >= 0 then tl = math.min(tokCap, tl + charged - actual) end
  if refund > 0 and reqCap >= 0 then rl = math.min(reqCap, rl + refund) end
  save_buckets(KEYS[1], reqCap, tokCap, rl, tl, bu)
end
if ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[8], 'released') end
return freed
`;

/**
 * Provider-reported limits. KEYS: buckets. ARGV: now, reqCap, tokCap, remainingRequests ('' =
 * unknown), remainingTokens, resetMs ('' = unknown).
 */
export const RATE_OBSERVE = `${NOW}${BUCKETS}
local reqCap = tonumber(ARGV[2])
local tokCap = tonumber(ARGV[3])
local rr = tonumber(ARGV[4])
local rt = tonumber(ARGV[5])
local reset = tonumber(ARGV[6])
local rl, tl, bu = load_buckets(KEYS[1], reqCap, tokCap)
if rr and reqCap >= 0 then rl = math.min(rl, rr) end
if rt and tokCap >= 0 then tl = math.min(tl, rt) end
if reset and reset > 0 and (rr == 0 or rt == 0) then bu = math.max(bu, now + reset) end
save_buckets(KEYS[1], reqCap, tokCap, rl, tl, bu)
return 1
`;

/**
 * Approximate mode: one process gives back the capacity it holds and claims what it expects to
 * need until its next sync. KEYS: buckets, members. ARGV: now, reqCap, tokCap, requests given
 * back, tokens given back (either may be negative: usage above the estimate), requests wanted,
 * tokens wanted, process id, staleMs (a process not heard of for that long no longer counts).
 * Returns {requests claimed, tokens claimed, processes, now} (claims as strings).
 */
export const RATE_SYNC = `${NOW}${BUCKETS}
local reqCap = tonumber(ARGV[2])
local tokCap = tonumber(ARGV[3])
local rl, tl, bu = load_buckets(KEYS[1], reqCap, tokCap)
local cr, ct = 0, 0
if reqCap >= 0 then
  rl = math.min(reqCap, rl + tonumber(ARGV[4]))
  if now >= bu then cr = math.max(0, math.min(rl, tonumber(ARGV[6]))) end
  rl = rl - cr
end
if tokCap >= 0 then
  tl = math.min(tokCap, tl + tonumber(ARGV[5]))
  if now >= bu then ct = math.max(0, math.min(tl, tonumber(ARGV[7]))) end
  tl = tl - ct
end
save_buckets(KEYS[1], reqCap, tokCap, rl, tl, bu)
local stale = tonumber(ARGV[9])
redis.call('ZADD', KEYS[2], now, ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - stale)
redis.call('PEXPIRE', KEYS[2], stale * 2)
return {tostring(cr), tostring(ct), redis.call('ZCARD', KEYS[2]), now}
`;

/**
 * Extends leases. KEYS: one sorted set per lease. ARGV: now, leaseMs, then one member per key.
 * A lease that expired meanwhile is not brought back (ZADD XX).
 */
export const LEASE_RENEW = `${NOW}
local leaseMs = tonumber(ARGV[2])
local n = 0
for i, key in ipairs(KEYS) do
  n = n + redis.call('ZADD', key, 'XX', 'CH', now + leaseMs, ARGV[i + 2])
  redis.call('PEXPIRE', key, leaseMs * 2)
end
return n
`;

// Budget: spend in one-minute fields (m<minute>) for the hour and one-hour fields (h<hour>) for
// the day, in one hash; reservations are leases (sorted set of ids, hash of amounts).
const BUDGET = `
local function budget_state(hashKey, resvKey, amtKey)
  local minute = math.floor(now / 60000)
  local hour = math.floor(now / 3600000)
  local expired = redis.call('ZRANGEBYSCORE', resvKey, '-inf', now)
  if #expired > 0 then
    redis.call('HDEL', amtKey, unpack(expired))
    redis.call('ZREMRANGEBYSCORE', resvKey, '-inf', now)
  end
  local reserved = 0
  for _, v in ipairs(redis.call('HVALS', amtKey)) do reserved = reserved + tonumber(v) end
  local spentHour, spentDay = 0, 0
  local fields = redis.call('HGETALL', hashKey)
  local old = {}
  for i = 1, #fields, 2 do
    local f, v = fields[i], tonumber(fields[i + 1])
    local n = tonumber(string.sub(f, 2))
    if string.sub(f, 1, 1) == 'm' then
      if n > minute - 60 then spentHour = spentHour + v else old[#old + 1] = f end
    else
      if n > hour - 24 then spentDay = spentDay + v else old[#old + 1] = f end
    end
  end
  if #old > 0 then redis.call('HDEL', hashKey, unpack(old)) end
  return spentHour, spentDay, reserved, minute, hour
end
`;

/**
 * Budget admission. KEYS: spend, reservations, amounts. ARGV: now, hourlyUsd (-1 none),
 * dailyUsd (-1 none), estimatedUsd, id, leaseMs, reject (1: an exceeded admission reserves
 * nothing). Returns {window ('' = within), spentUsd, reservedUsd, limitUsd} as strings.
 */
export const BUDGET_ADMIT = `${NOW}${BUDGET}
local hourly = tonumber(ARGV[2])
local daily = tonumber(ARGV[3])
local est = tonumber(ARGV[4])
local spentHour, spentDay, reserved = budget_state(KEYS[1], KEYS[2], KEYS[3])
local window, spent, limit = '', 0, 0
if hourly >= 0 and spentHour + reserved >= hourly then
  window, spent, limit = 'hour', spentHour, hourly
elseif daily >= 0 and spentDay + reserved >= daily then
  window, spent, limit = 'day', spentDay, daily
end
if est > 0 and not (window ~= '' and ARGV[7] == '1') then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[5])
  redis.call('HSET', KEYS[3], ARGV[5], tostring(est))
  redis.call('PEXPIRE', KEYS[2], 90000000)
  redis.call('PEXPIRE', KEYS[3], 90000000)
end
return {window, tostring(spent), tostring(reserved), tostring(limit)}
`;

/**
 * Ends a reservation and charges the spend. KEYS: spend, reservations, amounts. ARGV: now, id,
 * costUsd.
 */
export const BUDGET_SETTLE = `${NOW}
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
local cost = tonumber(ARGV[3])
if cost > 0 then
  redis.call('HINCRBYFLOAT', KEYS[1], 'm' .. math.floor(now / 60000), ARGV[3])
  redis.call('HINCRBYFLOAT', KEYS[1], 'h' .. math.floor(now / 3600000), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], 90000000)
end
return 1
`;

// Breaker state: hash {s = closed|open|half_open, g = generation, o = openedAt, r = retryAt,
// d = current open duration}; failures in a sorted set; probes are leases.
const BREAKER = `
local function breaker_state(key)
  local st = redis.call('HMGET', KEYS[1], 's', 'g', 'o', 'r', 'd')
  return st[1] or 'closed', tonumber(st[2]) or 0, tonumber(st[3]) or 0, tonumber(st[4]) or 0, tonumber(st[5])
end
local function breaker_set(s, g, o, r, d, channel)
  redis.call('HSET', KEYS[1], 's', s, 'g', g, 'o', o, 'r', r, 'd', d)
  redis.call('PERSIST', KEYS[1])
  if channel ~= '' then redis.call('PUBLISH', channel, s .. ' ' .. g .. ' ' .. o .. ' ' .. r .. ' ' .. now) end
end
`;

/**
 * Breaker admission past the cached view. KEYS: state, failures, probes. ARGV: now, maxProbes,
 * leaseId, leaseMs, baseOpenMs, channel. Returns {state, generation, openedAt, retryAt, now,
 * admitted (0 | 1 = closed ticket | 2 = probe)}.
 */
export const BREAKER_ACQUIRE = `${NOW}${BREAKER}
local s, g, o, r, d = breaker_state()
d = d or tonumber(ARGV[5])
if s == 'open' and now >= r then
  s = 'half_open'
  g = g + 1
  redis.call('DEL', KEYS[3])
  breaker_set(s, g, o, r, d, ARGV[6])
end
if s == 'closed' then return {s, g, o, r, now, 1} end
if s == 'half_open' then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[3])
    return {s, g, o, r, now, 2}
  end
end
return {s, g, o, r, now, 0}
`;

/**
 * A breaker outcome. KEYS: state, failures, probes. ARGV: now, outcome ('failure' of a closed
 * ticket, 'probe_ok', 'probe_failed', 'probe_neutral'), generation at admission, ticket id,
 * failureThreshold, windowMs, baseOpenMs, maxOpenMs, channel.
 * Returns {state, generation, openedAt, retryAt, now}.
 */
export const BREAKER_RECORD = `${NOW}${BREAKER}
local s, g, o, r, d = breaker_state()
local base = tonumber(ARGV[7])
d = d or base
local outcome = ARGV[2]
local gen = tonumber(ARGV[3])
if outcome ~= 'failure' then redis.call('ZREM', KEYS[3], ARGV[4]) end
if gen == g then
  if outcome == 'failure' and s == 'closed' then
    local window = tonumber(ARGV[6])
    redis.call('ZADD', KEYS[2], now, ARGV[4])
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
    redis.call('PEXPIRE', KEYS[2], window)
    if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
      redis.call('DEL', KEYS[2], KEYS[3])
      s, g, o, r = 'open', g + 1, now, now + d
      breaker_set(s, g, o, r, d, ARGV[9])
    end
  elseif outcome == 'probe_ok' and s == 'half_open' then
    redis.call('DEL', KEYS[2], KEYS[3])
    s, g, d = 'closed', g + 1, base
    breaker_set(s, g, o, r, d, ARGV[9])
  elseif outcome == 'probe_failed' and s == 'half_open' then
    redis.call('DEL', KEYS[3])
    d = math.min(tonumber(ARGV[8]), d * 2)
    s, g, o, r = 'open', g + 1, now, now + d
    breaker_set(s, g, o, r, d, ARGV[9])
  end
end
return {s, g, o, r, now}
`;

/** Reads a breaker's state. KEYS: state. ARGV: now. Returns {state, generation, openedAt, retryAt, now}. */
export const BREAKER_READ = `${NOW}${BREAKER}
local s, g, o, r = breaker_state()
return {s, g, o, r, now}
`;
