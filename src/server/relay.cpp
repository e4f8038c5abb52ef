#include "server/relay.hpp"

#include <sodium.h>

#include <cmath>

#include "net/send_watch.hpp"
#include "server/server_log.hpp"

namespace ferry::server {

using namespace net;
using proto::RelayStatus;
using Clock = std::chrono::steady_clock;

namespace {
std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

awaitable<void> sleep_until(Clock::time_point t) {
  asio::steady_timer timer(co_await asio::this_coro::executor, t);
  error_code ec;
  co_await timer.async_wait(redirect(ec));
}
}  // namespace

// A connection that presented a good grant. It holds one of its address's slots until it ends
// (the counts are shared: a waiter may outlive the relay when the server stops).
struct Relay::Waiter {
  Waiter(std::unique_ptr<RelayLink> l, ClientAddress c, std::shared_ptr<AddressCounts> n,
         const asio::any_io_executor& ex)
      : link(std::move(l)), client(std::move(c)), counts(std::move(n)), timer(ex) {
    ++(*counts)[client.group];
  }
  ~Waiter() {
    link->close();
    if (--(*counts)[client.group] == 0) counts->erase(client.group);
  }
  std::unique_ptr<RelayLink> link;
  ClientAddress client;
  std::shared_ptr<AddressCounts> counts;
  asio::steady_timer timer;
  bool taken = false;     // paired: the peer's coroutine forwards for both
  bool replaced = false;  // a newer connection took this side while it waited
  bool left = false;      // its client went away while it waited
};

// Two paired connections; each direction has one pump, which is the only writer to its target.
struct Relay::Session {
  explicit Session(const asio::any_io_executor& ex) : lifetime(ex) {}
  std::shared_ptr<Waiter> sides[2];
  Clock::time_point start = Clock::now();
  std::uint64_t bytes = 0;
  asio::steady_timer lifetime;
  int running = 2;
  bool writing[2] = {false, false};
  bool end_sent[2] = {false, false};
  std::optional<std::string> end_text;  // set when the relay ends the session at a limit
  std::string end_reason = "done";      // for the log: done, or the limit that ended it
  std::uint64_t id = 0;                 // for the log: the how-many-th session
};

Relay::Relay(RelayLimits limits, proto::RelayKey key)
    : limits_(limits), key_(key), connects_(limits.connects_per_minute) {}

proto::Bytes Relay::issue_grant(const proto::Bytes& session_id) {
  proto::RelayGrant g;
  std::copy_n(session_id.begin(), std::min(session_id.size(), g.session.size()), g.session.begin());
  g.expires = unix_now() + static_cast<std::uint64_t>(limits_.grant_lifetime.count());
  return proto::sign_relay_grant(key_, g);
}

awaitable<void> Relay::refuse(RelayLink& link, const ClientAddress& client, RelayStatus status,
                              std::string reason, std::string text) {
  ++stats_.refused[reason];
  // A peer that never came (the transfer went direct), a retry, a doctor's probe: the everyday.
  // Bad grants and limits are worth an operator's look.
  const bool everyday =
      reason == "probe" || reason == "peer_timeout" || reason == "replaced" || reason == "used";
  log_throttled("relay_refused/" + reason, everyday ? spdlog::level::info : spdlog::level::warn,
                "relay_refused", {{"reason", reason}, {"client", client.ip}});
  error_code ec;
  link.expires_after(std::chrono::seconds(5));
  co_await link.send_status(status, ec);
  if (ec) co_return link.close();
  if (text.empty()) text = proto::relay_status_text(status);
  co_await link.end(status, text);
}

void Relay::sweep(std::uint64_t now) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    const bool idle = !it->second.sides[0] && !it->second.sides[1];
    it = (idle && it->second.expires <= now) ? sessions_.erase(it) : std::next(it);
  }
}

std::optional<Relay::Refusal> Relay::admission(const ClientAddress& client) {
  if (!connects_.allow(client.group, Clock::now())) {
    return Refusal{RelayStatus::limit, "connect_rate",
                   proto::relay_limit_text(
                       {proto::RelayLimitKind::connect_rate, limits_.connects_per_minute})};
  }
  const auto slots = per_address_->find(client.group);
  if (slots != per_address_->end() && slots->second >= limits_.per_address) {
    return Refusal{
        RelayStatus::limit, "address_limit",
        proto::relay_limit_text({proto::RelayLimitKind::per_address, limits_.per_address})};
  }
  return std::nullopt;
}

awaitable<void> Relay::handle(std::unique_ptr<RelayLink> link, ClientAddress client,
                              proto::ByteView hello_bytes) {
  auto ex = co_await asio::this_coro::executor;
  if (auto no = admission(client))
    co_return co_await refuse(*link, client, no->status, no->reason, no->text);
  const auto hello = proto::decode_relay_hello(hello_bytes);
  if (!hello) co_return co_await refuse(*link, client, RelayStatus::malformed, "malformed");
  if (proto::is_probe_grant(hello->grant)) {
    // ferry doctor: answered like a forged grant (what older doctors expect), counted apart.
    co_return co_await refuse(*link, client, RelayStatus::forged, "probe");
  }
  proto::RelayGrant grant;
  const std::uint64_t now = unix_now();
  switch (proto::check_relay_grant(key_, hello->grant, now, grant)) {
    case proto::GrantCheck::ok:
      break;
    case proto::GrantCheck::malformed:
      co_return co_await refuse(*link, client, RelayStatus::malformed, "malformed");
    case proto::GrantCheck::forged:
      co_return co_await refuse(*link, client, RelayStatus::forged, "forged");
    case proto::GrantCheck::expired:
      co_return co_await refuse(*link, client, RelayStatus::expired, "expired");
  }
  auto self = std::make_shared<Waiter>(std::move(link), std::move(client), per_address_, ex);
  error_code ec;
  self->link->expires_after(std::chrono::seconds(5));
  co_await self->link->send_status(RelayStatus::waiting, ec);
  self->link->expires_never();
  if (ec) co_return;
  sweep(now);
  auto [it, fresh] = sessions_.try_emplace(grant.session);
  if (fresh) it->second.expires = grant.expires;
  const int me = hello->side == proto::Side::sender ? 0 : 1;
  co_await pair_or_wait(self, grant.session, me);
}

awaitable<void> Relay::handle_transit(std::unique_ptr<RelayLink> link, ClientAddress client,
                                      proto::TransitRelayRequest request) {
  auto ex = co_await asio::this_coro::executor;
  if (auto no = admission(client))
    co_return co_await refuse(*link, client, no->status, no->reason, no->text);
  // Wormhole's pairs share the session table under an id of their own (a hash of the token,
  // apart from any grant's): the token, whoever knows it, pairs two sides once.
  proto::RelaySessionId id{};
  const std::string domain = "ferry: wormhole transit relay";
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, id.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(domain.data()),
                            domain.size());
  crypto_generichash_update(&st, request.token.data(), request.token.size());
  crypto_generichash_final(&st, id.data(), id.size());
  const std::uint64_t now = unix_now();
  sweep(now);
  auto [it, fresh] = sessions_.try_emplace(id);
  Entry& entry = it->second;
  if (fresh) {
    entry.expires = now + static_cast<std::uint64_t>(limits_.wait_for_peer.count());
  }
  int me = -1;
  for (int i = 0; i < 2 && me < 0; ++i)
    if (entry.transit_sides[i] == request.side) me = i;
  for (int i = 0; i < 2 && me < 0; ++i)
    if (entry.transit_sides[i].empty()) me = i;
  if (me < 0 || entry.used) {
    co_return co_await refuse(*link, client, RelayStatus::side_taken,
                              entry.used ? "used" : "crowded");
  }
  entry.transit_sides[me] = request.side;
  auto self = std::make_shared<Waiter>(std::move(link), std::move(client), per_address_, ex);
  co_await pair_or_wait(self, id, me);
}

awaitable<void> Relay::pair_or_wait(std::shared_ptr<Waiter> self, proto::RelaySessionId id,
                                    int me) {
  auto ex = co_await asio::this_coro::executor;
  Entry& entry = sessions_.at(id);
  if (entry.used) {
    co_return co_await refuse(*self->link, self->client, RelayStatus::unknown_grant, "used");
  }
  if (auto old = entry.sides[me]) {  // the same side again (a retry on another transport)
    old->replaced = true;
    old->timer.cancel();
  }
  if (auto peer = entry.sides[1 - me]) {
    entry.used = true;
    entry.sides[0].reset();
    entry.sides[1].reset();
    peer->taken = true;
    peer->timer.cancel();
    co_return co_await forward(self, peer);
  }
  entry.sides[me] = self;
  self->timer.expires_after(limits_.wait_for_peer);
  asio::co_spawn(ex, watch(self), asio::detached);
  error_code ec;
  co_await self->timer.async_wait(redirect(ec));
  if (self->taken) co_return;
  const auto again = sessions_.find(id);
  if (again != sessions_.end() && again->second.sides[me] == self) again->second.sides[me].reset();
  if (self->left) {  // nobody to tell: the slot is free again
    ++stats_.refused["left"];
    co_return log_event(spdlog::level::debug, "relay_left", {{"client", self->client.ip}});
  }
  if (self->replaced) {
    co_return co_await refuse(*self->link, self->client, RelayStatus::side_taken, "replaced");
  }
  co_await refuse(*self->link, self->client, RelayStatus::timeout, "peer_timeout");
}

awaitable<void> Relay::watch(std::shared_ptr<Waiter> w) {
  error_code ec;
  auto& socket = w->link->tcp().socket();
  co_await socket.async_wait(tcp::socket::wait_read, redirect(ec));
  if (w->taken || w->replaced || w->timer.expiry() <= Clock::now()) co_return;  // not waiting now
  w->left = true;
  w->timer.cancel();
}

awaitable<void> Relay::forward(std::shared_ptr<Waiter> a, std::shared_ptr<Waiter> b) {
  auto ex = co_await asio::this_coro::executor;
  auto session = std::make_shared<Session>(ex);
  session->sides[0] = a;
  session->sides[1] = b;
  error_code ec;
  for (auto& side : session->sides) {
    side->link->expires_after(std::chrono::seconds(5));
    co_await side->link->send_status(RelayStatus::paired, ec);
    side->link->expires_never();
    if (ec) co_return;  // the Waiters close both links
  }
  ++stats_.sessions;
  ++stats_.active;
  session->id = stats_.sessions;
  log_event(spdlog::level::info, "relay_start",
            {{"session", session->id}, {"client_a", a->client.ip}, {"client_b", b->client.ip}});
  if (limits_.max_duration.count() > 0) {
    session->lifetime.expires_after(limits_.max_duration);
    session->lifetime.async_wait([this, weak = std::weak_ptr<Session>(session)](error_code e) {
      auto s = weak.lock();
      if (e || !s) return;
      end_session(
          s, "duration",
          proto::relay_limit_text({proto::RelayLimitKind::duration,
                                   static_cast<std::uint64_t>(limits_.max_duration.count())}));
    });
  }
  asio::co_spawn(ex, pump(session, 1), asio::detached);
  co_await pump(session, 0);
}

void Relay::end_session(const std::shared_ptr<Session>& s, const std::string& reason,
                        std::string text) {
  if (s->end_text) return;
  ++stats_.ended[reason];
  s->end_reason = reason;
  s->end_text = std::move(text);
  for (int side = 0; side < 2; ++side) {
    // A pump in the middle of writing to this side sends the end itself when its write is done.
    if (!s->writing[side])
      asio::co_spawn(s->lifetime.get_executor(), send_end(s, side), asio::detached);
  }
}

awaitable<void> Relay::send_end(std::shared_ptr<Session> s, int side) {
  if (s->end_sent[side]) co_return;
  s->end_sent[side] = true;
  const std::string text = s->end_text.value_or(std::string());
  co_await s->sides[side]->link->end(RelayStatus::limit, text);
}

awaitable<void> Relay::pump(std::shared_ptr<Session> session, int from) {
  const int to = 1 - from;
  RelayLink& in = *session->sides[from]->link;
  RelayLink& out = *session->sides[to]->link;
  // Between two plain TCP connections the bytes never enter this process (splice through a
  // pipe); otherwise (TLS, WebSocket, or no descriptor left for a pipe) they are copied.
  const std::optional<SplicePipe> pipe =
      in.spliceable() && out.spliceable() ? SplicePipe::open(limits_.buffer_bytes) : std::nullopt;
  std::vector<std::uint8_t> buf(pipe ? 0 : limits_.buffer_bytes);
  // A client across a PMTU black hole would stall its side for good (net::SendWatch).
  net::SendWatch watch;
  error_code ec;
  for (;;) {
    const std::size_t n =
        pipe ? co_await in.read_into(*pipe, std::min(limits_.buffer_bytes, pipe->capacity()), ec)
             : co_await in.read_some(asio::buffer(buf), ec);
    if (ec || session->end_text) break;
    if (limits_.max_bytes > 0 && session->bytes + n > limits_.max_bytes) {
      end_session(session, "bytes",
                  proto::relay_limit_text({proto::RelayLimitKind::bytes, limits_.max_bytes}));
      break;
    }
    session->bytes += n;
    stats_.bytes += n;
    co_await pace(*session, n);
    if (session->end_text) break;
    session->writing[to] = true;
    if (auto* socket = out.data_socket(); socket && socket->native_handle() != watch.fd()) {
      watch = net::SendWatch(*socket);
    }
    const auto writing = watch.writing();
    if (pipe) {
      co_await out.send_from(*pipe, n, ec);
    } else {
      co_await out.send_data(asio::buffer(buf.data(), n), ec);
    }
    session->writing[to] = false;
    if (ec) break;
  }
  if (session->end_text) {
    co_await send_end(session, to);
  } else if (ec == asio::error::eof) {
    co_await out.send_eof();  // pass the half-close on; the other pump goes on
  } else {
    in.close();
    out.close();
  }
  if (--session->running == 0) {
    session->lifetime.cancel();
    --stats_.active;
    log_event(
        spdlog::level::info, "relay_end",
        {{"session", session->id},
         {"bytes", session->bytes},
         {"seconds",
          std::round(std::chrono::duration<double>(Clock::now() - session->start).count() * 1000) /
              1000},
         {"reason", session->end_reason}});
    in.close();
    out.close();
  }
}

awaitable<void> Relay::pace(Session& session, std::size_t bytes) {
  const auto now = Clock::now();
  auto due = now;
  if (limits_.rate > 0) {
    const double seconds = static_cast<double>(session.bytes) / static_cast<double>(limits_.rate);
    due = std::max(due, session.start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(seconds)));
  }
  if (limits_.bandwidth > 0) {
    const auto slot = std::max(now, bandwidth_free_);
    bandwidth_free_ =
        slot + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                   static_cast<double>(bytes) / static_cast<double>(limits_.bandwidth)));
    due = std::max(due, slot);
  }
  if (due > now) co_await sleep_until(due);
}

RelayStats Relay::stats() const {
  RelayStats s = stats_;
  for (const auto& [id, e] : sessions_) s.waiting += (e.sides[0] ? 1 : 0) + (e.sides[1] ? 1 : 0);
  return s;
}

}  // namespace ferry::server
