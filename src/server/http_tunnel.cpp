#include "server/http_tunnel.hpp"

#include <boost/asio/write.hpp>

#include <sodium.h>

namespace ferry::server {

using namespace net;
using local_socket = asio::local::stream_protocol::socket;

struct HttpTunnels::Tunnel {
  Tunnel(local_socket w, local_socket r, std::shared_ptr<QueueBudget> b)
      : writer(std::move(w)),
        reader(std::move(r)),
        idle(writer.get_executor()),
        hold(writer.get_executor()),
        budget(std::move(b)) {}
  Tunnel(const Tunnel&) = delete;
  Tunnel& operator=(const Tunnel&) = delete;
  ~Tunnel() { uncharge(retained.size()); }

  void charge(std::size_t n) {
    if (budget) budget->used += n;
  }
  void uncharge(std::size_t n) {
    if (budget) budget->used -= std::min(n, budget->used);
  }
  // What may still be read from the connection inside for the client now.
  std::size_t room() const {
    std::size_t room = proto::kTunnelMaxBody - std::min(retained.size(), proto::kTunnelMaxBody);
    if (budget) room = std::min(room, budget->limit - std::min(budget->used, budget->limit));
    return room;
  }

  std::string token;
  local_socket writer;  // the client's bytes go in here
  // The same socket under a second descriptor: a GET's wait for bytes is cancelled on it alone,
  // never an up request's write.
  local_socket reader;
  asio::steady_timer idle;
  asio::steady_timer hold;
  std::uint64_t up_received = 0;  // the client's bytes passed on so far
  std::uint64_t down_base = 0;    // the stream offset of retained's first byte
  std::string retained;           // sent down and not yet acknowledged
  std::shared_ptr<QueueBudget> budget;
  bool up_busy = false;
  bool down_busy = false;
  // A GET came for a held one: its connection was lost on the way, and the new one takes over.
  bool down_superseded = false;
  bool inner_ended = false;  // the connection inside stopped sending
  bool ended = false;
};

namespace {
// Marks a direction busy for as long as one request is carried out on it.
struct Busy {
  explicit Busy(bool& b) : flag(b) { flag = true; }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;
  ~Busy() { flag = false; }
  bool& flag;
};
constexpr std::chrono::seconds kWriteTimeout{60};
constexpr std::chrono::milliseconds kGather{2};
// How long a request waits for its direction's previous one (sent before on a connection that
// was lost) to be done.
constexpr std::chrono::seconds kUpTakeover{30};
constexpr std::chrono::seconds kDownTakeover{2};

// Until busy is false (true), or most has passed (false).
awaitable<bool> wait_until_idle(const bool& busy, std::chrono::steady_clock::duration most) {
  asio::steady_timer tick(co_await asio::this_coro::executor);
  const auto until = std::chrono::steady_clock::now() + most;
  while (busy && std::chrono::steady_clock::now() < until) {
    tick.expires_after(std::chrono::milliseconds(20));
    error_code ec;
    co_await tick.async_wait(redirect(ec));
  }
  co_return !busy;
}
}  // namespace

std::string HttpTunnels::open(local_socket pump, std::shared_ptr<QueueBudget> budget) {
  std::array<unsigned char, 16> raw{};
  randombytes_buf(raw.data(), raw.size());
  std::string token(32, '0');
  constexpr std::string_view kHex = "0123456789abcdef";
  for (std::size_t i = 0; i < raw.size(); ++i) {
    token[2 * i] = kHex[raw[i] >> 4];
    token[2 * i + 1] = kHex[raw[i] & 15];
  }
  error_code ec;
  const int dup = ::dup(pump.native_handle());
  local_socket reader(ex_);
  if (dup >= 0) reader.assign(asio::local::stream_protocol(), dup, ec);
  if (dup < 0 || ec) {
    if (dup >= 0 && ec) ::close(dup);
    return {};
  }
  reader.non_blocking(true, ec);
  auto t = std::make_shared<Tunnel>(std::move(pump), std::move(reader), std::move(budget));
  t->token = token;
  tunnels_.emplace(token, t);
  asio::co_spawn(ex_, expire(t), asio::detached);
  return token;
}

awaitable<void> HttpTunnels::expire(std::shared_ptr<Tunnel> t) {
  t->idle.expires_after(proto::kTunnelIdle);
  for (;;) {
    error_code ec;
    co_await t->idle.async_wait(redirect(ec));
    if (t->ended) co_return;
    if (ec) continue;  // a request came: the timer was set again
    if (t->up_busy || t->down_busy) {
      t->idle.expires_after(proto::kTunnelIdle);
      continue;
    }
    co_return end(*t);
  }
}

void HttpTunnels::end(Tunnel& t) {
  if (t.ended) return;
  t.ended = true;
  error_code ec;
  // The connection inside sees its client leave, as it would a dropped TCP connection.
  t.writer.shutdown(local_socket::shutdown_both, ec);
  t.writer.close(ec);
  t.reader.close(ec);
  t.idle.cancel();
  t.hold.cancel();
  tunnels_.erase(t.token);
}

awaitable<TunnelAnswer> HttpTunnels::serve(const proto::TunnelTarget& target,
                                           std::string_view body) {
  const auto it = tunnels_.find(target.token);
  if (it == tunnels_.end()) co_return TunnelAnswer{404, "no such tunnel (it may have expired)\n"};
  const auto t = it->second;  // kept alive for the whole request
  t->idle.expires_after(proto::kTunnelIdle);
  // Not one co_await over a conditional expression: g++ 12 destroys the unused branch's frame.
  if (target.direction == proto::TunnelDirection::up) co_return co_await up(*t, target, body);
  co_return co_await down(*t, target.offset);
}

awaitable<TunnelAnswer> HttpTunnels::up(Tunnel& t, const proto::TunnelTarget& target,
                                        std::string_view body) {
  // The same upload again (its answer was lost): once the first is done, what it passed on is
  // skipped below.
  if (t.up_busy && !co_await wait_until_idle(t.up_busy, kUpTakeover)) {
    co_return TunnelAnswer{409, "one upload at a time per tunnel\n"};
  }
  if (t.ended) co_return TunnelAnswer{410, "this tunnel has ended\n"};
  if (target.offset > t.up_received) {
    co_return TunnelAnswer{416, "bytes are missing before this offset\n"};
  }
  // Sent again after a lost answer: what already arrived is skipped.
  const std::uint64_t skip = t.up_received - target.offset;
  const std::string_view fresh = skip >= body.size() ? std::string_view() : body.substr(skip);
  const Busy busy(t.up_busy);
  error_code ec;
  if (!fresh.empty()) {
    // The connection inside reads as fast as its work allows (a relay, as its peer takes the
    // bytes): the answer waits for that, which is this direction's back-pressure.
    asio::steady_timer guard(t.writer.get_executor(), kWriteTimeout);
    guard.async_wait([&t](error_code e) {
      error_code ignored;
      if (!e) t.writer.cancel(ignored);
    });
    co_await asio::async_write(t.writer, asio::buffer(fresh), redirect(ec));
    guard.cancel();
    if (ec) {
      end(t);
      co_return TunnelAnswer{410, "the connection inside this tunnel has ended\n"};
    }
    t.up_received += fresh.size();
  }
  if (target.fin && !t.ended) t.writer.shutdown(local_socket::shutdown_send, ec);
  co_return TunnelAnswer{204, {}};
}

awaitable<TunnelAnswer> HttpTunnels::down(Tunnel& t, std::uint64_t offset) {
  if (t.down_busy) {
    // The held GET's connection was lost (the client sends one at a time): it ends, and this
    // one is answered instead, with whatever it had taken (kept until acknowledged).
    t.down_superseded = true;
    t.hold.cancel();
    error_code ignored;
    t.reader.cancel(ignored);
    if (!co_await wait_until_idle(t.down_busy, kDownTakeover)) {
      co_return TunnelAnswer{409, "one download at a time per tunnel\n"};
    }
  }
  t.down_superseded = false;
  if (t.ended) co_return TunnelAnswer{410, "this tunnel has ended\n"};
  if (offset < t.down_base || offset - t.down_base > t.retained.size()) {
    co_return TunnelAnswer{416, "no bytes at this offset\n"};
  }
  // Everything before offset arrived: forget it.
  const auto acknowledged = static_cast<std::size_t>(offset - t.down_base);
  t.retained.erase(0, acknowledged);
  t.uncharge(acknowledged);
  t.down_base = offset;
  const Busy busy(t.down_busy);
  error_code ec;
  if (t.retained.empty() && !t.inner_ended) {
    // A short long-poll: answered as soon as there are bytes, or empty after the hold. With
    // the address's budget spent, only the hold (the client asks again, and reads meanwhile).
    const bool may_read = t.room() > 0;
    t.hold.expires_after(proto::kTunnelHold);
    if (may_read) {
      t.hold.async_wait([&t](error_code e) {
        error_code ignored;
        if (!e) t.reader.cancel(ignored);
      });
      co_await t.reader.async_wait(local_socket::wait_read, redirect(ec));
      t.hold.cancel();
    } else {
      co_await t.hold.async_wait(redirect(ec));
    }
    if (t.ended) co_return TunnelAnswer{410, "this tunnel has ended\n"};
    if (t.down_superseded) co_return TunnelAnswer{409, "another download took over\n"};
  }
  // What is there now; then more while it keeps coming within kGather (a socket pair holds
  // ~200 KB: a fuller answer saves round trips through the proxy).
  for (bool more = true; more;) {
    more = false;
    for (std::size_t room = t.room(); room > 0 && !t.inner_ended; room = t.room()) {
      const std::size_t old = t.retained.size();
      t.retained.resize(old + room);
      const std::size_t n = t.reader.read_some(asio::buffer(t.retained.data() + old, room), ec);
      t.retained.resize(old + (ec ? 0 : n));
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        more = !t.retained.empty();
        break;
      }
      if (ec) {
        t.inner_ended = true;  // its end (eof), or it was cut
        break;
      }
      t.charge(n);
    }
    if (!more) break;
    t.hold.expires_after(kGather);
    t.hold.async_wait([&t](error_code e) {
      error_code ignored;
      if (!e) t.reader.cancel(ignored);
    });
    co_await t.reader.async_wait(local_socket::wait_read, redirect(ec));
    t.hold.cancel();
    if (ec || t.ended || t.down_superseded) break;
  }
  if (t.down_superseded) co_return TunnelAnswer{409, "another download took over\n"};
  if (t.ended) co_return TunnelAnswer{410, "this tunnel has ended\n"};
  if (!t.retained.empty()) co_return TunnelAnswer{200, t.retained};
  if (t.inner_ended) {
    end(t);
    co_return TunnelAnswer{410, "the connection inside this tunnel has ended\n"};
  }
  co_return TunnelAnswer{204, {}};
}

}  // namespace ferry::server
