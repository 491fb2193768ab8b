-- wrk script: each connection reserves a project's quota and then allocates
-- it (POST /quota/reservations, then POST /quota/reservations/{id}/allocate),
-- every request with its own body and Idempotency-Key. Run with as many
-- threads as connections (-t N -c N) so that each thread's state machine
-- drives exactly one connection. With RETRY_EVERY n > 0, every nth
-- reservation is sent again once it is answered, as a client whose answer
-- was lost on the way would: the same body and Idempotency-Key, which must
-- be given the first answer (201, Idempotent-Replayed).
--   wrk -t16 -c16 -d10s -s bench/wrk/quota_pair.lua URL -- TOKEN DISTRICTS NONCE [INCREMENT_T [RETRY_EVERY]]

local counter = 0
tid = 0 -- set per thread by setup()
local next_tid = 0
local threads = {}
local token, nonce, increment
local districts = {}
local pending = nil -- reservation id to allocate next
local retry_every = 0
local again = nil -- {key, body} of a reservation to send again
local resending = false -- the request in flight is a reservation sent again
pairs_done, reserved, refused, errors, retried = 0, 0, 0, 0, 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  for d in string.gmatch(args[2], "[^,]+") do
    table.insert(districts, d)
  end
  nonce = args[3]
  increment = args[4] or "0.005"
  retry_every = tonumber(args[5] or "0")
end

local function headers(key)
  return {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key,
  }
end

function request()
  counter = counter + 1
  if again then
    resending = true
    return wrk.format("POST", "/quota/reservations", headers(again[1]), again[2])
  end
  resending = false
  local key = string.format("wrk-%s-%d-%d", nonce, tid, counter)
  if pending then
    return wrk.format("POST", "/quota/reservations/" .. pending .. "/allocate", headers(key), "{}")
  end
  local district = districts[((tid + counter) % #districts) + 1]
  local body = string.format(
    '{"district":"%s","increment_t":"%s","project_ref":"%s"}', district, increment, key)
  if retry_every > 0 and counter % retry_every == 0 then
    again = {key, body}
  end
  return wrk.format("POST", "/quota/reservations", headers(key), body)
end

local function failed(status, body)
  errors = errors + 1
  if errors <= 3 then io.stderr:write(string.format("wrk: %d %s\n", status, body)) end
end

function response(status, hdrs, body)
  if resending then
    again = nil
    if status == 201 and hdrs["idempotent-replayed"] == "true" then
      retried = retried + 1
    else
      failed(status, body)
    end
    return
  end
  if again and status ~= 201 then
    again = nil -- refused: nothing to send again
  end
  if pending then
    if status == 200 then pairs_done = pairs_done + 1 else failed(status, body) end
    pending = nil
  elseif status == 201 then
    reserved = reserved + 1
    pending = string.match(body, '"id"%s*:%s*"([^"]+)"')
    if not pending then failed(status, body) end
  elseif status == 409 then
    refused = refused + 1
  else
    failed(status, body)
  end
end

function done(summary, latency, requests)
  local totals = {pairs = 0, reserved = 0, refused = 0, errors = 0, retried = 0}
  for _, t in ipairs(threads) do
    totals.retried = totals.retried + t:get("retried")
    totals.pairs = totals.pairs + t:get("pairs_done")
    totals.reserved = totals.reserved + t:get("reserved")
    totals.refused = totals.refused + t:get("refused")
    totals.errors = totals.errors + t:get("errors")
  end
  -- one machine-readable line for the bench script
  io.write(string.format(
    'WRK_RESULT {"pairs":%d,"reserved":%d,"refused":%d,"errors":%d,"retried":%d,"requests":%d,' ..
    '"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"socket_errors":%d}\n',
    totals.pairs, totals.reserved, totals.refused, totals.errors, totals.retried, summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout))
end
