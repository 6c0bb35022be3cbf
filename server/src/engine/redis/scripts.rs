//! The Lua scripts: every change to a stream is one script, so it is atomic
//! in Redis whatever the number of nodes (Centrifugo's Redis engine does the
//! same: sequence, append with a cap, TTL and publish in one step).
//!
//! # Why cursors are built as strings
//! Redis's Lua numbers are doubles; a cursor (Unix nanoseconds, about
//! 1.8e18) does not fit in 53 bits. Scripts therefore keep the stream's last
//! cursor as two fields, seconds (`ls`) and nanoseconds (`lns`), do the
//! arithmetic on those, and write cursors as decimal strings. A message's
//! cursor is also its Redis stream entry id (`<cursor>-0`), so reads by
//! cursor are `XRANGE`/`XREVRANGE` with exclusive bounds.
//!
//! # Keys
//! Every script touches only one stream's keys (`keys.rs`), which share a
//! hash tag, so each script runs on one Redis Cluster shard. The global
//! indexes (all streams, public streams) are updated by the caller with
//! separate commands for that reason.
//!
//! A message is stored as its complete JSON. The caller sends the JSON with
//! `created` left open (`…"created":"` and the closing `"}`), and the script
//! completes it with the cursor it assigned.

use std::sync::LazyLock;

use redis::Script;

/// Helpers every script starts with.
const PRELUDE: &str = r#"
local function cursor(s, ns) return string.format('%d%09d', s, ns) end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]), tonumber(t[2]) * 1000
end
-- The cursor `ttl` seconds before now: older messages have expired.
local function cutoff(ttl)
  local s, ns = now()
  return cursor(s - ttl, ns)
end
-- The newest cursor dropped so far: by the size cap (recorded), or by age
-- (the newest entry older than the cutoff, not yet trimmed).
local function dropped_through(meta, log, cut)
  local dropped = redis.call('HGET', meta, 'dropped') or '0'
  local old = redis.call('XREVRANGE', log, '(' .. cut .. '-0', '-', 'COUNT', 1)
  if old[1] then
    local id = string.sub(old[1][1], 1, -3)
    if #id > #dropped or (#id == #dropped and id > dropped) then dropped = id end
  end
  return dropped
end
-- Sum of live per-node presence counts ("count:deadline_ms"); drops dead ones.
local function observers(presence)
  local s, ns = now()
  local now_ms = s * 1000 + math.floor(ns / 1000000)
  local fields = redis.call('HGETALL', presence)
  local sum = 0
  for i = 1, #fields, 2 do
    local count, deadline = string.match(fields[i + 1], '^(%d+):(%d+)$')
    if count and tonumber(deadline) > now_ms then
      sum = sum + tonumber(count)
    else
      redis.call('HDEL', presence, fields[i])
    end
  end
  return sum
end
"#;

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

/// Creates a stream explicitly.
/// KEYS: meta, log. ARGV: private ("1"/"0"), ttl, encryption JSON ("" for a
/// plain stream). Returns the creation cursor, or `false` (nil) if
/// the stream exists.
pub static CREATE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local s, ns = now()
-- A log left over from a former stream of this name (its meta expired
-- first) must not mix with the new one.
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'private', ARGV[1], 'ttl', ARGV[2], 'born', cursor(s, ns),
  'ls', s, 'lns', ns, 'dropped', '0')
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'enc', ARGV[3]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return cursor(s, ns)
"#,
    )
});

/// Makes sure a stream exists (a subscription to a new name creates it,
/// unlisted, with the default TTL) and says where it stands.
/// KEYS: meta, log. ARGV: default ttl, create ("1"/"0").
/// Returns `{last, born, created (0/1)}`, or `false` if it does not exist
/// and `create` is "0".
pub static ENSURE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local m = redis.call('HMGET', KEYS[1], 'ls', 'lns', 'born')
if m[1] then return {cursor(tonumber(m[1]), tonumber(m[2])), m[3], 0} end
if ARGV[2] ~= '1' then return false end
local s, ns = now()
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'private', '1', 'ttl', ARGV[1], 'born', cursor(s, ns),
  'ls', s, 'lns', ns, 'dropped', '0')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return {cursor(s, ns), cursor(s, ns), 1}
"#,
    )
});

/// Appends one message: assigns the next cursor (`max(last + 1 ns, now)`),
/// trims by age and to the cap (remembering the newest dropped cursor),
/// appends, refreshes the TTL of the stream's keys and publishes the
/// message with the cursor before it, so every node can tell whether it
/// missed one.
///
/// KEYS: meta, log. ARGV: JSON head if the text is a valid plain message
/// (else ""), JSON head if it is a valid envelope (else ""), default ttl,
/// create ("1"/"0"), cap, channel.
/// Returns `{"ok", cursor, private, ttl, dropped count, encrypted}`, `{"absent"}` when
/// the stream does not exist and `create` is "0", or `{"text"}` /
/// `{"envelope"}` when the stream's kind refuses the text.
pub static POST: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local m = redis.call('HMGET', KEYS[1], 'ls', 'lns', 'enc', 'ttl', 'private')
local encrypted = m[3] ~= false
local head = ARGV[1]
if encrypted then head = ARGV[2] end
if head == '' then
  if encrypted then return {'envelope'} end
  return {'text'}
end
local now_s, now_ns = now()
local ls, lns, ttl, private
if m[1] then
  ls, lns, ttl, private = tonumber(m[1]), tonumber(m[2]), tonumber(m[4]), m[5]
else
  if ARGV[4] ~= '1' then return {'absent'} end
  ls, lns, ttl, private = now_s, now_ns, tonumber(ARGV[3]), '1'
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'private', '1', 'ttl', ARGV[3], 'born', cursor(ls, lns),
    'dropped', '0')
end
local s, ns = now_s, now_ns
if s < ls or (s == ls and ns <= lns) then
  s, ns = ls, lns + 1
  if ns >= 1000000000 then s, ns = s + 1, 0 end
end
local prev = cursor(ls, lns)
local id = cursor(s, ns)
local cut = cursor(now_s - ttl, now_ns)
local dropped = dropped_through(KEYS[1], KEYS[2], cut)
local count = redis.call('XTRIM', KEYS[2], 'MINID', cut .. '-0')
local cap = tonumber(ARGV[5])
local len = redis.call('XLEN', KEYS[2])
if len >= cap then
  local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', len - cap + 1)
  dropped = string.sub(oldest[#oldest][1], 1, -3)
  count = count + redis.call('XTRIM', KEYS[2], 'MAXLEN', cap - 1)
end
local json = head .. id .. '"}'
redis.call('XADD', KEYS[2], id .. '-0', 'm', json)
redis.call('HSET', KEYS[1], 'ls', s, 'lns', ns, 'dropped', dropped)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('PUBLISH', ARGV[6], 'm' .. prev .. ' ' .. json)
return {'ok', id, private, ttl, count, encrypted and '1' or '0'}
"#,
    )
});

/// Reads messages after (forward) or before (backward) a cursor, skipping
/// expired ones, with what a reader needs to detect a gap.
/// KEYS: meta, log. ARGV: "after" or "before", cursor ("+" for the newest
/// when backward), count.
/// Returns `false` if the stream does not exist, else
/// `{last, born, dropped_through, json...}`.
pub static READ: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local m = redis.call('HMGET', KEYS[1], 'ls', 'lns', 'born', 'ttl')
if not m[1] then return false end
local cut = cutoff(tonumber(m[4]))
local out = {cursor(tonumber(m[1]), tonumber(m[2])), m[3],
  dropped_through(KEYS[1], KEYS[2], cut)}
local entries
if ARGV[1] == 'after' then
  local from = '(' .. ARGV[2] .. '-0'
  if #ARGV[2] < #cut or (#ARGV[2] == #cut and ARGV[2] < cut) then from = cut .. '-0' end
  entries = redis.call('XRANGE', KEYS[2], from, '+', 'COUNT', ARGV[3])
else
  local to = '+'
  if ARGV[2] ~= '+' then to = '(' .. ARGV[2] .. '-0' end
  entries = redis.call('XREVRANGE', KEYS[2], to, cut .. '-0', 'COUNT', ARGV[3])
end
for _, entry in ipairs(entries) do out[#out + 1] = entry[2][2] end
return out
"#,
    )
});

/// A stream's description.
/// KEYS: meta, log, presence. Returns `false` if the stream does not exist,
/// else `{private, ttl, encryption JSON or "", updated, messages, observers}`.
pub static INFO: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local m = redis.call('HMGET', KEYS[1], 'private', 'ttl', 'enc', 'ls', 'lns')
if not m[1] then return false end
local cut = cutoff(tonumber(m[2]))
local messages = redis.call('XLEN', KEYS[2])
  - #redis.call('XRANGE', KEYS[2], '-', '(' .. cut .. '-0')
return {m[1], m[2], m[3] or '', cursor(tonumber(m[4]), tonumber(m[5])), messages,
  observers(KEYS[3])}
"#,
    )
});

/// Sets this node's subscriber count for a stream (0 removes it), with a
/// deadline after which it no longer counts (a killed node's subscribers
/// vanish), refreshes the stream's TTL while anyone subscribes, and
/// publishes the new total when it changed.
/// KEYS: meta, log, presence. ARGV: node id, count, lifetime ms, channel.
/// Returns the total.
pub static PRESENCE: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
-- Before: every count, live or dead, so removing a dead node's count is
-- published too.
local before = 0
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do
  before = before + (tonumber(string.match(v, '^(%d+)')) or 0)
end
local s, ns = now()
local now_ms = s * 1000 + math.floor(ns / 1000000)
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. ':' .. (now_ms + tonumber(ARGV[3])))
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
  local ttl = redis.call('HGET', KEYS[1], 'ttl')
  if ttl then
    redis.call('EXPIRE', KEYS[1], ttl)
    redis.call('EXPIRE', KEYS[2], ttl)
  end
else
  redis.call('HDEL', KEYS[3], ARGV[1])
end
local after = observers(KEYS[3])
if after ~= before then redis.call('PUBLISH', ARGV[4], 'p' .. after) end
return after
"#,
    )
});

/// Publishes an LLM reply preview, stamped with the stream's last cursor.
/// KEYS: meta. ARGV: channel, partial JSON. Returns 1, or 0 if the stream
/// does not exist.
pub static PARTIAL: LazyLock<Script> = LazyLock::new(|| {
    script(
        r#"
local m = redis.call('HMGET', KEYS[1], 'ls', 'lns')
if not m[1] then return 0 end
redis.call('PUBLISH', ARGV[1], 'P' .. cursor(tonumber(m[1]), tonumber(m[2])) .. ' ' .. ARGV[2])
return 1
"#,
    )
});
