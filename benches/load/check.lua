-- wrk script shared by every scenario of benches/load/harness.mjs. Configured through the
-- environment:
--   BODY      the JSON request body (or, with TOKENS/CURSORS, a template with %s for `after`)
--   TOKENS    bearer tokens, comma-separated: request N uses token N mod count ("" = none)
--   CURSORS   `after` cursors, comma-separated: request N uses cursor N mod count
--   EXPECT    a string every good answer contains; an answer with "errors" is bad
--   PATHNAME  the path (default /graphql)
--   ALLOW_ERRORS  an error code an answer may carry (every error must have it): the
--             anonymous page with owners is a partial result, one AUTHORIZATION_REQUIRED
--             per owner
-- Every response is checked; the counts are printed as `checked: N ok, M bad`.

local function split(text)
  local out = {}
  for part in string.gmatch(text or "", "[^,]+") do table.insert(out, part) end
  return out
end

local body = os.getenv("BODY")
local tokens = split(os.getenv("TOKENS"))
local cursors = split(os.getenv("CURSORS"))
local expect = os.getenv("EXPECT")
local path = os.getenv("PATHNAME") or "/graphql"
local allowed = os.getenv("ALLOW_ERRORS")

-- How many times `needle` occurs in `text`, and how many of those are followed by
-- `after` (plain searches, no pattern).
local function count(text, needle, after)
  local n, followed, at = 0, 0, 1
  while true do
    local _, last = string.find(text, needle, at, true)
    if not last then return n, followed end
    n = n + 1
    if after and string.sub(text, last + 1, last + #after) == after then followed = followed + 1 end
    at = last + 1
  end
end

-- No "errors", or (with ALLOW_ERRORS) errors that each carry the allowed code (as many
-- codes as messages, every code the allowed one). Two plain passes: a pattern with
-- captures over every answer made this single wrk thread the bottleneck of the anonymous
-- page with owners (authql's CPU 58 % busy).
local function errors_ok(text)
  if not string.find(text, '"errors"', 1, true) then return true end
  if not allowed then return false end
  local codes, allowed_codes = count(text, '"code":"', allowed .. '"')
  return codes > 0 and codes == allowed_codes and codes == count(text, '"message":"')
end

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  ok = 0
  bad = 0
  n = id * 7919
end

function request()
  n = n + 1
  local headers = { ["Content-Type"] = "application/json" }
  if #tokens > 0 then headers["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1] end
  local payload = body
  if #cursors > 0 then payload = string.format(body, cursors[(n % #cursors) + 1]) end
  return wrk.format("POST", path, headers, payload)
end

function response(status, headers, text)
  if status == 200 and string.find(text, expect, 1, true) and errors_ok(text) then
    ok = ok + 1
  else
    bad = bad + 1
    if bad <= 3 then io.stderr:write("bad answer (" .. status .. ") to " .. string.sub(body, 1, 60) .. ": " .. string.sub(text, -400) .. "\n") end
  end
end

function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    b = b + t:get("bad")
  end
  io.write(string.format("checked: %d ok, %d bad\n", o, b))
end
