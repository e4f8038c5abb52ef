#include "server/cluster.hpp"

#include <sodium.h>

#include <charconv>
#include <map>

#include <nlohmann/json.hpp>

#include "proto/bytes.hpp"
#include "server/server_log.hpp"

namespace ferry::server {

namespace rv = proto::rv;
using json = nlohmann::json;

namespace {

// A sender allocates: a waiting receiver with that nameplate pairs at once; a nameplate held
// under the same resume token (the last field of the value) is its own, taken back on a new
// connection; otherwise the nameplate (the one asked for, or the first free of the candidates)
// becomes ours. A nameplate asked for may pair with a waiting receiver, so it is a try at a code:
// it counts against the address group's claim limit, cluster-wide, as a claim does.
constexpr const char* kAllocate = R"lua(
local me, ttl, want, token, group, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
if want ~= '' then
  local ck = 'ferry:claims:' .. group
  local c = redis.call('INCR', ck)
  if c == 1 then redis.call('EXPIRE', ck, 60) end
  if c > limit then return {'limit'} end
  local cur = redis.call('GET', 'ferry:np:' .. want)
  local mine = cur and token ~= '-' and string.match(cur, '(%S+)$') == token
  local w = redis.call('GET', 'ferry:aw:' .. want)
  if w and redis.call('EXISTS', 'ferry:alive:' .. string.match(w, '^[^.]*')) == 0 then
    -- Its receiver's node died: that receiver comes back to another node and claims again.
    redis.call('DEL', 'ferry:aw:' .. want)
    w = false
  end
  if w then
    redis.call('DEL', 'ferry:aw:' .. want)
    if mine then redis.call('DEL', 'ferry:np:' .. want) end
    return {'paired', want, w}
  end
  if cur then
    if not mine then return {'taken'} end
    redis.call('SET', 'ferry:np:' .. want, me, 'EX', ttl)
    return {'resumed', want, cur}
  end
  if redis.call('SET', 'ferry:np:' .. want, me, 'NX', 'EX', ttl) then return {'allocated', want} end
  return {'taken'}
end
for i = 7, #ARGV do
  local n = ARGV[i]
  if redis.call('EXISTS', 'ferry:aw:' .. n) == 0 and
     redis.call('SET', 'ferry:np:' .. n, me, 'NX', 'EX', ttl) then
    return {'allocated', n}
  end
end
return {'full'}
)lua";

// A receiver claims: counted against its address group first (the limit holds cluster-wide), then
// the one guess: the nameplate is gone whether the code's words are right or not.
constexpr const char* kClaim = R"lua(
local me, ttl, n, wait, group, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
-- Holds nameplate n for this waiting receiver; one held by a receiver whose node died (it is
-- coming back, maybe as this very claim) is taken over.
local function hold()
  local k = 'ferry:aw:' .. n
  if redis.call('SET', k, me, 'NX', 'EX', ttl) then return true end
  local cur = redis.call('GET', k)
  if cur and redis.call('EXISTS', 'ferry:alive:' .. string.match(cur, '^[^.]*')) == 0 then
    redis.call('SET', k, me, 'EX', ttl)
    return true
  end
  return false
end
local ck = 'ferry:claims:' .. group
local c = redis.call('INCR', ck)
if c == 1 then redis.call('EXPIRE', ck, 60) end
if c > limit then return {'limit'} end
local grp = 'ferry:grp:' .. n
if redis.call('EXISTS', grp) == 1 then
  -- A group send: pair with its waiting sender, or wait in line while it is busy (or while its
  -- node is dead: the sender comes back to another node and takes the code back).
  local w = redis.call('HGET', grp, 'waiting')
  local gone = w ~= '' and redis.call('EXISTS', 'ferry:alive:' .. string.match(w, '^[^.]*')) == 0
  if w ~= '' and not gone and redis.call('HGET', grp, 'busy') == '' then
    return pair_group(n, me)
  end
  if redis.call('LLEN', 'ferry:grpq:' .. n) >= tonumber(ARGV[7]) then return {'line_full'} end
  redis.call('RPUSH', 'ferry:grpq:' .. n, me)
  redis.call('EXPIRE', 'ferry:grpq:' .. n, ttl)
  if gone then return {'queued_sender_gone'} end
  return {'queued'}
end
local s = redis.call('GET', 'ferry:np:' .. n)
if s then
  if redis.call('EXISTS', 'ferry:alive:' .. string.match(s, '^[^.]*')) == 0 then
    -- The sender's node died: its sender comes back to another node (resume) and finds us.
    if hold() then return {'waiting'} end
    return {'taken'}
  end
  redis.call('DEL', 'ferry:np:' .. n)
  return {'paired', s}
end
if wait ~= '1' then return {'unknown'} end
if hold() then return {'waiting'} end
return {'taken'}
)lua";

// Group sends (rendezvous.hpp): ferry:grp:<n> is a hash {token, left, waiting (the sender's
// waiting connection, a value), busy (the id of the sender's connection in an unproven
// pairing)}, ferry:grpq:<n> the receivers in line (values). Shared by the scripts below.
constexpr const char* kGroupLib = R"lua(
local function ids_of(values, out)
  for _, v in ipairs(values) do table.insert(out, string.match(v, '^(%S+)')) end
  return out
end
-- Ends group n: its keys go; returns the ids to tell (code_used).
local function end_group(n, out)
  ids_of(redis.call('LRANGE', 'ferry:grpq:' .. n, 0, -1), out)
  redis.call('DEL', 'ferry:grp:' .. n, 'ferry:grpq:' .. n)
  return out
end
-- Pairs group n's waiting sender with a receiver (a value): {'paired', n, sender, receiver,
-- ids to tell...}. The sender's connection is busy until the next one asks.
local function pair_group(n, receiver)
  local g = 'ferry:grp:' .. n
  local sender = redis.call('HGET', g, 'waiting')
  local left = tonumber(redis.call('HGET', g, 'left')) - 1
  redis.call('HSET', g, 'waiting', '', 'busy', string.match(sender, '^(%S+)'), 'left', left)
  local out = {'gpaired', n, sender, receiver}
  if left <= 0 then end_group(n, out) end
  return out
end
)lua";

// A group send's sender: a first allocate (ARGV[9] '0'), a retake or a next (its token; a next,
// ARGV[9] '1', only of a group that exists). A retake or next vouches for the last pairing (busy
// clears); the connection becomes the waiting one and pairs with the first receiver in line.
// Replies: {'allocated', n, replaced id or ''}, {'gpaired', n, sender, receiver, ids to tell...},
// {'taken'}, {'unknown'}, {'limit'}, {'full'}.
constexpr const char* kGroupAllocate = R"lua(
local me, ttl, want, token, rg, limit = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local pairings, must_exist, maxq = ARGV[7], ARGV[8], ARGV[9]
local function make(n)
  local g = 'ferry:grp:' .. n
  redis.call('HSET', g, 'token', token, 'left', pairings, 'waiting', me, 'busy', '')
  redis.call('EXPIRE', g, ttl)
  return {'allocated', n, ''}
end
if want ~= '' then
  local g = 'ferry:grp:' .. want
  if redis.call('EXISTS', g) == 1 then
    if redis.call('HGET', g, 'token') ~= token then
      if must_exist == '1' then return {'unknown'} end
      return {'taken'}
    end
    local old = redis.call('HGET', g, 'waiting')
    local old_id = ''
    if old ~= '' and old ~= me then old_id = string.match(old, '^(%S+)') end
    redis.call('HSET', g, 'waiting', me, 'busy', '')
    redis.call('EXPIRE', g, ttl)
    local head = redis.call('LPOP', 'ferry:grpq:' .. want)
    if head then
      local out = pair_group(want, head)
      return out
    end
    return {'allocated', want, old_id}
  end
  if must_exist == '1' then return {'unknown'} end
  local ck = 'ferry:claims:' .. rg
  local c = redis.call('INCR', ck)
  if c == 1 then redis.call('EXPIRE', ck, 60) end
  if c > limit then return {'limit'} end
  if redis.call('EXISTS', 'ferry:np:' .. want) == 1 then return {'taken'} end
  local w = redis.call('GET', 'ferry:aw:' .. want)
  if w and redis.call('EXISTS', 'ferry:alive:' .. string.match(w, '^[^.]*')) == 0 then
    -- Its receiver's node died: that receiver comes back to another node and claims again.
    redis.call('DEL', 'ferry:aw:' .. want)
    w = false
  end
  make(want)
  if w then
    redis.call('DEL', 'ferry:aw:' .. want)
    return pair_group(want, w)
  end
  return {'allocated', want, ''}
end
for i = 10, #ARGV do
  local n = ARGV[i]
  if redis.call('EXISTS', 'ferry:aw:' .. n) == 0 and redis.call('EXISTS', 'ferry:np:' .. n) == 0
     and redis.call('EXISTS', 'ferry:grp:' .. n) == 0 then
    return make(n)
  end
end
return {'full'}
)lua";

// After a Redis restart emptied it: a node's waiting group sender writes its group again (ARGV:
// nameplate, token hash, pairings, its value, ttl), unless one exists by now.
constexpr const char* kGroupRestore = R"lua(
local g = 'ferry:grp:' .. ARGV[1]
if redis.call('EXISTS', g) == 1 then return 0 end
redis.call('HSET', g, 'token', ARGV[2], 'left', ARGV[3], 'waiting', ARGV[4], 'busy', '')
redis.call('EXPIRE', g, ARGV[5])
return 1
)lua";

// A connection of a group send left (ARGV: its id, its value, the nameplate): the sender's busy
// connection (an unproven pairing: maybe a wrong guess) or its waiting one with nothing busy ends
// the group; returns the ids to tell. A receiver in line just leaves the line.
constexpr const char* kGroupLeave = R"lua(
local id, value, n = ARGV[1], ARGV[2], ARGV[3]
local g = 'ferry:grp:' .. n
if redis.call('EXISTS', g) == 0 then return {} end
local busy, w = redis.call('HGET', g, 'busy'), redis.call('HGET', g, 'waiting')
if busy == id or (w == value and busy == '') then
  local out = {}
  if w ~= '' and w ~= value then table.insert(out, string.match(w, '^(%S+)')) end
  return end_group(n, out)
end
if w == value then redis.call('HSET', g, 'waiting', '') end
redis.call('LREM', 'ferry:grpq:' .. n, 0, value)
return {}
)lua";

// The scripts that share the group functions.
const std::string& with_groups(const char* lua) {
  static std::map<const char*, std::string> joined;
  auto [it, fresh] = joined.try_emplace(lua);
  if (fresh) it->second = std::string(kGroupLib) + lua;
  return it->second;
}

// Deletes a key only while it still names this client (it may have been claimed and reused).
constexpr const char* kDrop = R"lua(
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
)lua";

// One message of a pair: counted, then published to the partner's node. -1: over the limit;
// otherwise how many subscribers got it (0: the partner's node is gone).
constexpr const char* kMessage = R"lua(
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('EXPIRE', KEYS[1], 3600) end
if c > tonumber(ARGV[1]) then return -1 end
return redis.call('PUBLISH', ARGV[2], ARGV[3])
)lua";

// A node's heartbeat: it is alive (claims of its clients' nameplates pair only while it is), and
// its relay, if any, is in the pool, on Redis's clock so that nodes' clocks need not agree. The
// pool's keys expire when every node is gone.
constexpr const char* kHeartbeat = R"lua(
redis.call('SET', 'ferry:alive:' .. ARGV[1], '1', 'PX', ARGV[2])
if ARGV[3] == '' then return 1 end
local t = redis.call('TIME')
redis.call('ZADD', 'ferry:relays', t[1] * 1000 + math.floor(t[2] / 1000), ARGV[3])
redis.call('HSET', 'ferry:relay_load', ARGV[3], ARGV[4])
redis.call('PEXPIRE', 'ferry:relays', ARGV[5])
redis.call('PEXPIRE', 'ferry:relay_load', ARGV[5])
if ARGV[6] ~= '0' then
  redis.call('HSET', 'ferry:relay_udp', ARGV[3], ARGV[6])
  redis.call('PEXPIRE', 'ferry:relay_udp', ARGV[5])
end
return 1
)lua";

// The relay for a new pair: the least loaded of those heard from lately (the silent ones leave
// the pool); counted at once so that the next pair goes elsewhere until the next heartbeat.
// Returns its URL and its relay over UDP's port ('' for none), or nil when the pool is empty.
constexpr const char* kPickRelay = R"lua(
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local dead = redis.call('ZRANGEBYSCORE', 'ferry:relays', '-inf', now - tonumber(ARGV[1]))
for _, u in ipairs(dead) do
  redis.call('ZREM', 'ferry:relays', u)
  redis.call('HDEL', 'ferry:relay_load', u)
  redis.call('HDEL', 'ferry:relay_udp', u)
end
local best, load = false, 0
for _, u in ipairs(redis.call('ZRANGE', 'ferry:relays', 0, -1)) do
  local l = tonumber(redis.call('HGET', 'ferry:relay_load', u) or '0') or 0
  if not best or l < load then best, load = u, l end
end
if not best then return false end
redis.call('HINCRBY', 'ferry:relay_load', best, 1)
return {best, redis.call('HGET', 'ferry:relay_udp', best) or ''}
)lua";

constexpr const char* kLeave = R"lua(
redis.call('DEL', 'ferry:alive:' .. ARGV[1])
if ARGV[2] == '' then return 1 end
redis.call('ZREM', 'ferry:relays', ARGV[2])
redis.call('HDEL', 'ferry:relay_load', ARGV[2])
redis.call('HDEL', 'ferry:relay_udp', ARGV[2])
return 1
)lua";

std::string random_hex(std::size_t bytes) {
  proto::Bytes b(bytes);
  randombytes_buf(b.data(), b.size());
  return proto::to_hex(b);
}

std::string node_of(const std::string& id) {
  return id.substr(0, id.find('.'));
}
std::string channel_of(const std::string& node) {
  return "ferry:node:" + node;
}

// A nameplate's value is "<client id> <observed address> <page relay> <resume-token hash>"
// (ClusterRendezvous::Waiter), "-" for an empty field.
using Waiter = ClusterRendezvous::Waiter;
std::string dash_for_empty(const std::string& s) {
  return s.empty() ? "-" : s;
}
std::string empty_for_dash(const std::string& s) {
  return s == "-" ? std::string() : s;
}
Waiter parse_waiter(const std::string& v) {
  std::vector<std::string> f;
  std::size_t at = 0;
  while (f.size() < 4) {
    const auto space = v.find(' ', at);
    f.push_back(v.substr(at, space == std::string::npos ? std::string::npos : space - at));
    if (space == std::string::npos) break;
    at = space + 1;
  }
  f.resize(4);
  return {f[0], empty_for_dash(f[1]), empty_for_dash(f[2])};
}

// What Redis keeps of a resume token: a hash, so that reading Redis does not give codes away.
std::string token_hash(const proto::Bytes& token) {
  if (token.empty()) return {};
  std::array<std::uint8_t, 16> h{};
  crypto_generichash(h.data(), h.size(), token.data(), token.size(), nullptr, 0);
  return proto::to_hex(proto::ByteView(h.data(), h.size()));
}

const std::string& str_at(const net::RedisReply& r, std::size_t i) {
  static const std::string empty;
  return i < r.elements.size() ? r.elements[i].str : empty;
}

// Nameplates to try, short first: a quiet cluster hands out short codes.
std::vector<std::string> candidates() {
  std::vector<std::string> out;
  for (const std::uint32_t range : {99u, 999u, 9'999u, 99'999u, 999'999u, 99'999'999u}) {
    for (int i = 0; i < 4; ++i) out.push_back(std::to_string(1 + randombytes_uniform(range)));
  }
  return out;
}

}  // namespace

ClusterRendezvous::ClusterRendezvous(const net::asio::any_io_executor& ex, ClusterOptions options,
                                     GrantIssuer grants)
    : ex_(ex),
      options_(std::move(options)),
      grants_(std::move(grants)),
      node_(random_hex(8)),
      heartbeat_(ex),
      alive_(std::make_shared<bool>(true)) {
  std::weak_ptr<bool> alive = alive_;
  commands_ = std::make_shared<net::RedisClient>(
      ex, options_.redis,
      net::RedisClient::Events{[this, alive] {
                                 if (alive.lock()) on_redis_up();
                               },
                               [alive](const std::string& why) {
                                 if (!alive.lock()) return;
                                 log_event(spdlog::level::err, "redis_down", {{"error", why}});
                               },
                               {}});
  events_ = std::make_shared<net::RedisClient>(
      ex, options_.redis,
      net::RedisClient::Events{{},
                               {},
                               [this, alive](std::string_view, std::string_view payload) {
                                 if (alive.lock()) on_envelope(payload);
                               }},
      true);
  events_->subscribe(channel_of(node_));
}

ClusterRendezvous::~ClusterRendezvous() {
  *alive_ = false;
  alive_.reset();
  commands_->stop();
  events_->stop();
}

void ClusterRendezvous::start(std::string relay_url, std::uint16_t relay_udp) {
  relay_url_ = std::move(relay_url);
  relay_udp_ = relay_url_.empty() ? 0 : relay_udp;
  commands_->start();
  events_->start();
  heartbeat();
}

void ClusterRendezvous::stop() {
  stopped_ = true;
  heartbeat_.cancel();
  if (commands_->connected()) {
    // Sent before the connection closes; Redis runs it even if no one reads the answer.
    commands_->send({"EVAL", kLeave, "0", node_, relay_url_}, [](auto&&) {});
  }
  auto commands = commands_;
  auto events = events_;
  net::asio::post(ex_, [commands, events] {
    commands->stop();
    events->stop();
  });
}

bool ClusterRendezvous::ready() const {
  return commands_->connected() && events_->connected();
}

std::string ClusterRendezvous::not_ready_reason() const {
  if (!commands_->connected()) return commands_->last_error();
  if (!events_->connected()) return events_->last_error();
  return {};
}

Client* ClusterRendezvous::find(const std::string& id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : it->second;
}

void ClusterRendezvous::script(const std::string& lua, std::vector<std::string> args,
                               net::RedisClient::Callback cb) {
  std::vector<std::string> cmd{"EVAL", lua};
  cmd.insert(cmd.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  commands_->send(cmd, std::move(cb));
}

void ClusterRendezvous::redis_failed(const std::string& id, const proto::Error& e) {
  log_throttled("redis_failed", spdlog::level::err, "redis_failed", {{"error", e.detail}});
  if (Client* c = find(id)) {
    c->kick("unavailable",
            "the service cannot reach its shared state right now; try again in a moment");
  }
}

std::string ClusterRendezvous::value_for(Client& c, const State& st) const {
  return st.id + " " + dash_for_empty(c.observed_address()) + " " +
         dash_for_empty(c.page() ? relay_url_ : std::string()) + " " + dash_for_empty(st.token);
}

void ClusterRendezvous::on_message(Client& from, const proto::ClientMessage& m) {
  auto [it, fresh] = clients_.try_emplace(&from);
  State& st = it->second;
  if (fresh) {
    st.id = node_ + "." + std::to_string(++next_id_);
    by_id_[st.id] = &from;
  }
  if (const auto* a = std::get_if<rv::Allocate>(&m)) return allocate(from, st, *a);
  if (const auto* c = std::get_if<rv::Claim>(&m)) return claim(from, st, *c);
  message(from, st, std::get<rv::Message>(m));
}

void ClusterRendezvous::allocate(Client& from, State& st, const rv::Allocate& m) {
  if (st.joined) return from.kick("out_of_order", "this connection already has a code");
  if (m.receivers != 1 || m.next) return group_allocate(from, st, m);
  const auto waiting = stats();
  if (waiting.waiting + waiting.receivers_waiting >= options_.limits.max_nameplates) {
    return from.kick("limit", "the server is full; try again later");
  }
  st.joined = true;
  st.token = token_hash(m.resume);
  std::vector<std::string> args{"0",
                                value_for(from, st),
                                std::to_string(options_.nameplate_ttl.count() + 60),
                                m.nameplate,
                                dash_for_empty(st.token),
                                from.rate_group(),
                                std::to_string(options_.claims_per_minute)};
  if (m.nameplate.empty()) {
    for (auto& c : candidates()) args.push_back(std::move(c));
  }
  script(kAllocate, std::move(args),
         [this, id = st.id, value = value_for(from, st)](net::RedisClient::Reply r) {
           Client* c = find(id);
           if (!r) return redis_failed(id, r.error());
           const std::string& verdict = str_at(*r, 0);
           if (c == nullptr) {
             // Gone while Redis answered: give back what was taken.
             if (verdict == "allocated" || verdict == "resumed") {
               script(kDrop, {"1", "ferry:np:" + str_at(*r, 1), value}, [](auto&&) {});
             } else if (verdict == "paired") {
               publish(parse_waiter(str_at(*r, 2)).id, "left", id, {});
             }
             return;
           }
           State& st = clients_[c];
           if (verdict == "allocated" || verdict == "resumed") {
             st.nameplate = str_at(*r, 1);
             // The connection it replaces may still be open somewhere (it dropped unnoticed).
             if (verdict == "resumed") publish(parse_waiter(str_at(*r, 2)).id, "replaced", id, {});
             return c->deliver(rv::Allocated{st.nameplate});
           }
           if (verdict == "paired") {
             c->deliver(rv::Allocated{str_at(*r, 1)});
             return pair(id, str_at(*r, 2));
           }
           if (verdict == "taken") {
             return c->kick("code_taken", "that code's number is in use; pick another");
           }
           if (verdict == "limit") return c->kick("limit", kTooManyCodes);
           c->kick("limit", "the server is full; try again later");
         });
}

void ClusterRendezvous::tell_used(const net::RedisReply& r, std::size_t from_index) {
  for (std::size_t i = from_index; i < r.elements.size(); ++i) {
    publish(r.elements[i].str, "used", node_, {});
  }
}

void ClusterRendezvous::group_allocate(Client& from, State& st, const rv::Allocate& m) {
  if (m.resume.empty()) {
    return from.kick("protocol", "a send to several receivers needs a resume token");
  }
  const auto waiting = stats();
  if (!m.next && waiting.waiting + waiting.receivers_waiting >= options_.limits.max_nameplates) {
    return from.kick("limit", "the server is full; try again later");
  }
  st.joined = true;
  st.token = token_hash(m.resume);
  const std::uint32_t most = options_.limits.max_group_receivers;
  const std::uint32_t pairings = m.receivers == 0 ? most : std::min(m.receivers, most);
  std::vector<std::string> args{"0",
                                value_for(from, st),
                                std::to_string(options_.nameplate_ttl.count() + 60),
                                m.nameplate,
                                st.token,
                                from.rate_group(),
                                std::to_string(options_.claims_per_minute),
                                std::to_string(pairings),
                                m.next ? "1" : "0"};
  if (m.nameplate.empty()) {
    for (auto& c : candidates()) args.push_back(std::move(c));
  }
  script(with_groups(kGroupAllocate), std::move(args),
         [this, id = st.id, value = value_for(from, st), pairings](net::RedisClient::Reply r) {
           Client* c = find(id);
           if (!r) return redis_failed(id, r.error());
           const std::string& verdict = str_at(*r, 0);
           const std::string n = str_at(*r, 1);
           if (verdict == "gpaired") tell_used(*r, 4);
           if (verdict == "allocated" && !str_at(*r, 2).empty()) {
             publish(str_at(*r, 2), "replaced", id, {});
           }
           if (c == nullptr) {
             // Gone while Redis answered: as if it left then.
             if (verdict == "gpaired") publish(parse_waiter(str_at(*r, 3)).id, "left", id, {});
             if (verdict == "allocated" || verdict == "gpaired") {
               script(with_groups(kGroupLeave), {"0", id, value, n}, [this](auto&& left) {
                 if (left) tell_used(*left, 0);
               });
             }
             return;
           }
           State& st = clients_[c];
           if (verdict == "allocated" || verdict == "gpaired") {
             st.group = n;
             st.pairings = pairings;
             c->deliver(rv::Allocated{n});
             if (verdict == "gpaired") pair(id, str_at(*r, 3));
             return;
           }
           if (verdict == "taken") {
             return c->kick("code_taken", "that code's number is in use; pick another");
           }
           if (verdict == "unknown") {
             return c->kick("code_unknown", "no send to several receivers is open under this code");
           }
           if (verdict == "limit") return c->kick("limit", kTooManyCodes);
           c->kick("limit", "the server is full; try again later");
         });
}

void ClusterRendezvous::claim(Client& from, State& st, const rv::Claim& m) {
  if (st.joined) return from.kick("out_of_order", "this connection already has a code");
  st.joined = true;
  std::vector<std::string> args{"0",
                                value_for(from, st),
                                std::to_string(options_.nameplate_ttl.count() + 60),
                                m.nameplate,
                                m.wait ? "1" : "0",
                                from.rate_group(),
                                std::to_string(options_.claims_per_minute),
                                std::to_string(options_.limits.max_group_queue)};
  script(
      with_groups(kClaim), std::move(args),
      [this, id = st.id, n = m.nameplate, value = value_for(from, st)](net::RedisClient::Reply r) {
        Client* c = find(id);
        if (!r) return redis_failed(id, r.error());
        const std::string& verdict = str_at(*r, 0);
        if (verdict == "gpaired") tell_used(*r, 4);
        if (c == nullptr) {
          if (verdict == "paired") publish(parse_waiter(str_at(*r, 1)).id, "left", id, {});
          if (verdict == "gpaired") publish(parse_waiter(str_at(*r, 2)).id, "left", id, {});
          if (verdict == "waiting") script(kDrop, {"1", "ferry:aw:" + n, value}, [](auto&&) {});
          if (verdict == "queued" || verdict == "queued_sender_gone") {
            script(with_groups(kGroupLeave), {"0", id, value, n}, [](auto&&) {});
          }
          return;
        }
        State& st = clients_[c];
        if (verdict == "paired") return pair(id, str_at(*r, 1));
        if (verdict == "gpaired") return pair(id, str_at(*r, 2));
        if (verdict == "queued" || verdict == "queued_sender_gone") {
          // In line behind another receiver, or waiting for a sender whose node died (as a
          // plain code's receiver does then).
          st.queued = n;
          return c->deliver(rv::Waiting{verdict == "queued"});
        }
        if (verdict == "line_full") {
          return c->kick("limit",
                         "too many receivers are waiting for this code's sender; try again in a "
                         "moment");
        }
        if (verdict == "waiting") {
          st.awaited = n;
          return c->deliver(rv::Waiting{});
        }
        if (verdict == "limit") return c->kick("limit", kTooManyCodes);
        if (verdict == "taken") {
          return c->kick("code_taken", "another receiver is already waiting with this code");
        }
        c->kick("code_unknown",
                "no transfer is waiting under this code (mistyped, expired, or already used)");
      });
}

void ClusterRendezvous::pair(const std::string& here, const std::string& there_value) {
  const Waiter there = parse_waiter(there_value);
  Client* c = find(here);
  if (c == nullptr) return publish(there.id, "left", here, {});
  // A page relays only through the node it came from; two programs take the pool's choice.
  if (c->page()) return paired(here, there, relay_url_);
  if (!there.page_relay.empty()) return paired(here, there, there.page_relay);
  script(kPickRelay, {"0", std::to_string(options_.heartbeat.count() * 3)},
         [this, here, there](net::RedisClient::Reply r) {
           if (!r) {
             publish(there.id, "left", here, {});
             return redis_failed(here, r.error());
           }
           // {url, udp port or ''}; nil: the pool is empty (no relay).
           const bool found = r->type == net::RedisReply::Type::array && r->elements.size() == 2;
           std::uint16_t udp = 0;
           if (found) {
             const std::string& port = r->elements[1].str;
             const auto parsed = std::from_chars(port.data(), port.data() + port.size(), udp);
             if (parsed.ec != std::errc{} || parsed.ptr != port.data() + port.size()) udp = 0;
           }
           paired(here, there, found ? r->elements[0].str : "", udp);
         });
}

void ClusterRendezvous::paired(const std::string& here, const Waiter& there,
                               const std::string& relay, std::uint16_t relay_udp) {
  Client* c = find(here);
  if (c == nullptr) return publish(there.id, "left", here, {});
  proto::Bytes session(16);
  randombytes_buf(session.data(), session.size());
  rv::Paired mine{session, relay.empty() ? proto::Bytes{} : grants_(session), c->observed_address(),
                  there.observed, relay};
  rv::Paired theirs{mine.session_id, mine.relay_grant, there.observed, mine.observed, relay};
  mine.relay_udp = theirs.relay_udp = relay.empty() ? 0 : relay_udp;
  State& st = clients_[c];
  st.partner = there.id;
  st.session = proto::to_hex(session);
  st.nameplate.clear();
  st.awaited.clear();
  st.queued.clear();
  c->deliver(mine);
  publish(there.id, "paired", here, proto::encode_server(theirs), [this, here](bool delivered) {
    if (delivered) return;
    // The partner's node is gone (killed): its client will never answer.
    Client* c = find(here);
    if (c == nullptr) return;
    clients_[c].partner.clear();
    c->deliver(rv::PeerLeft{});
  });
}

void ClusterRendezvous::message(Client& from, State& st, const rv::Message& m) {
  if (st.partner.empty()) {
    return from.kick("out_of_order", "a message was sent before both peers joined");
  }
  const json envelope = {
      {"k", "msg"}, {"to", st.partner}, {"from", st.id}, {"b", proto::encode_server(m)}};
  script(kMessage,
         {"1", "ferry:msgs:" + st.session, std::to_string(options_.limits.max_messages_per_pair),
          channel_of(node_of(st.partner)), envelope.dump()},
         [this, id = st.id](net::RedisClient::Reply r) {
           Client* c = find(id);
           if (!r) return redis_failed(id, r.error());
           if (c == nullptr) return;
           if (r->integer < 0) return c->kick("limit", "too many messages for one transfer");
           if (r->integer == 0) {
             State& st = clients_[c];
             if (st.partner.empty()) return;
             st.partner.clear();
             c->deliver(rv::PeerLeft{});
           }
         });
}

void ClusterRendezvous::publish(const std::string& to, const std::string& kind,
                                const std::string& from, const std::string& body,
                                std::function<void(bool delivered)> done) {
  const json envelope = {{"k", kind}, {"to", to}, {"from", from}, {"b", body}};
  commands_->send({"PUBLISH", channel_of(node_of(to)), envelope.dump()},
                  [done = std::move(done)](net::RedisClient::Reply r) {
                    if (done) done(r && r->integer > 0);
                  });
}

void ClusterRendezvous::on_envelope(std::string_view payload) {
  const json j = json::parse(payload, nullptr, false);
  if (!j.is_object() || !j["k"].is_string() || !j["to"].is_string() || !j["from"].is_string() ||
      !j["b"].is_string()) {
    return log_throttled("cluster_bad_envelope", spdlog::level::warn, "cluster_bad_envelope", {});
  }
  const auto kind = j["k"].get<std::string>();
  const auto to = j["to"].get<std::string>();
  const auto from = j["from"].get<std::string>();
  Client* c = find(to);
  if (c == nullptr) {
    // Our client went away: its partner hears so.
    if (kind == "paired" || kind == "msg") publish(from, "left", to, {});
    return;
  }
  State& st = clients_[c];
  if (kind == "replaced") {
    if (st.partner.empty() && (!st.nameplate.empty() || !st.group.empty())) {
      st.nameplate.clear();
      st.group.clear();
      c->kick("replaced", "the sender took this code over on a new connection");
    }
    return;
  }
  if (kind == "used") {
    // A group send ended (its receivers came, or a pairing ended unproven).
    if (st.partner.empty() && (!st.queued.empty() || !st.group.empty())) {
      st.queued.clear();
      st.group.clear();
      c->kick("code_used", "the sender stopped taking receivers for this code");
    }
    return;
  }
  if (kind == "left") {
    if (st.partner == from || (st.partner.empty() && !st.nameplate.empty())) {
      st.partner.clear();
      st.nameplate.clear();
      c->deliver(rv::PeerLeft{});
    }
    return;
  }
  auto m = proto::decode_server(j["b"].get<std::string>());
  if (!m) {
    return log_throttled("cluster_bad_envelope", spdlog::level::warn, "cluster_bad_envelope", {});
  }
  if (kind == "paired" && std::holds_alternative<rv::Paired>(*m)) {
    st.partner = from;
    st.session = proto::to_hex(std::get<rv::Paired>(*m).session_id);
    st.nameplate.clear();
    st.awaited.clear();
    st.queued.clear();
    return c->deliver(*m);
  }
  if (kind == "msg" && st.partner == from && std::holds_alternative<rv::Message>(*m)) {
    c->deliver(*m);
  }
}

void ClusterRendezvous::on_disconnect(Client& from) {
  const auto it = clients_.find(&from);
  if (it == clients_.end()) return;
  const State st = std::move(it->second);
  clients_.erase(it);
  by_id_.erase(st.id);
  if (!commands_->connected()) return;
  const std::string value = value_for(from, st);
  if (!st.nameplate.empty()) script(kDrop, {"1", "ferry:np:" + st.nameplate, value}, [](auto&&) {});
  if (!st.awaited.empty()) script(kDrop, {"1", "ferry:aw:" + st.awaited, value}, [](auto&&) {});
  for (const std::string* n : {&st.group, &st.queued}) {
    if (n->empty()) continue;
    script(with_groups(kGroupLeave), {"0", st.id, value, *n}, [this](net::RedisClient::Reply r) {
      if (r && r->type == net::RedisReply::Type::array) tell_used(*r, 0);
    });
  }
  if (!st.partner.empty()) publish(st.partner, "left", st.id, {});
}

void ClusterRendezvous::on_redis_up() {
  log_event(spdlog::level::info, "redis_up",
            {{"redis", options_.redis.to_string()}, {"node", node_}});
  // After a Redis restart its data may be gone: write our waiting clients' keys again.
  const std::string ttl = std::to_string(options_.nameplate_ttl.count() + 60);
  for (auto& [client, st] : clients_) {
    if (!st.nameplate.empty()) {
      commands_->send({"SET", "ferry:np:" + st.nameplate, value_for(*client, st), "NX", "EX", ttl},
                      [](auto&&) {});
    }
    if (!st.awaited.empty()) {
      commands_->send({"SET", "ferry:aw:" + st.awaited, value_for(*client, st), "NX", "EX", ttl},
                      [](auto&&) {});
    }
    if (!st.group.empty() && st.partner.empty()) {
      // A group's waiting sender (every CLI send's code): its group again, with the pairings it
      // asked for (those made before are forgotten with Redis's data; the line starts empty).
      script(with_groups(kGroupRestore),
             {"0", st.group, st.token, std::to_string(st.pairings), value_for(*client, st), ttl},
             [](auto&&) {});
    }
  }
  heartbeat_.cancel();  // announce the relay at once
}

void ClusterRendezvous::heartbeat() {
  std::weak_ptr<bool> alive = alive_;
  if (commands_->connected()) {
    const std::size_t load = options_.relay_load ? options_.relay_load() : 0;
    script(kHeartbeat,
           {"0", node_, std::to_string(options_.heartbeat.count() * 3), relay_url_,
            std::to_string(load), std::to_string(options_.heartbeat.count() * 10),
            std::to_string(relay_udp_)},
           [](auto&&) {});
    // The pool as pages must be allowed to reach it (their Content-Security-Policy).
    commands_->send({"ZRANGE", "ferry:relays", "0", "-1"},
                    [this, alive](net::RedisClient::Reply r) {
                      if (!alive.lock() || !r || r->type != net::RedisReply::Type::array) return;
                      relay_urls_.clear();
                      for (const auto& e : r->elements) relay_urls_.push_back(e.str);
                    });
  }
  heartbeat_.expires_after(options_.heartbeat);
  heartbeat_.async_wait([this, alive](const net::error_code&) {
    if (alive.lock() && !stopped_) heartbeat();
  });
}

RendezvousStats ClusterRendezvous::stats() const {
  RendezvousStats s;
  for (const auto& [c, st] : clients_) {
    s.waiting += !st.nameplate.empty() || (!st.group.empty() && st.partner.empty()) ? 1 : 0;
    s.receivers_waiting += !st.awaited.empty() || !st.queued.empty() ? 1 : 0;
    s.paired += st.partner.empty() ? 0 : 1;
  }
  return s;
}

}  // namespace ferry::server
