#include "session/wormhole_transit.hpp"

#include <sodium.h>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstring>

#include "net/tcp.hpp"
#include "proto/names.hpp"
#include "session/progress_clock.hpp"
#include "session/wormhole_mailbox.hpp"

namespace ferry::session {

using namespace net;
using proto::Errc;

namespace {

constexpr auto kTransitDeadline = std::chrono::seconds(30);
constexpr auto kHintConnect = std::chrono::seconds(10);
// A silent transit connection mid-transfer is given up on after this long.
constexpr auto kRecordStall = std::chrono::seconds(60);
// wormhole senders write 16 KiB records (Twisted's FileSender); a peer may not make us hold more
// than this for one.
constexpr std::uint32_t kMaxRecordBytes = 4u << 20;
constexpr std::uint32_t kMaxAckBytes = 4096;
// Bytes read, and plaintext gathered for one write, at a time.
constexpr std::size_t kReceiveBuffer = std::size_t{1} << 20;
// Connections a sender's listener takes in one race (a receiver makes one per address it has).
constexpr std::size_t kMaxInbound = 32;
// What this sender puts in one record.
constexpr std::size_t kSendRecordBytes = std::size_t{64} * 1024;

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto a = unmapped(ep.address());
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

struct Race {
  explicit Race(const asio::any_io_executor& ex)
      : done(ex, std::chrono::steady_clock::now() + kTransitDeadline) {}
  asio::steady_timer done;
  std::optional<TransitConnection> winner;
  bool decided = false;  // the sender said "go" somewhere (set before the write)
  std::vector<std::shared_ptr<beast::tcp_stream>> live;
  std::vector<std::string> outcomes;  // one per outbound hint, for the failure sentence
  std::size_t outbound_left = 0;
  std::size_t inbound = 0;  // connections taken on the sender's listener
  bool listening = false;
};

awaitable<proto::Result<void>> expect(beast::tcp_stream& s, std::string_view want) {
  std::string got(want.size(), '\0');
  error_code ec;
  co_await asio::async_read(s, asio::buffer(got), redirect(ec));
  if (ec) co_return proto::fail(Errc::peer_gone, describe(ec));
  if (got != want) co_return proto::fail(Errc::protocol, "a different handshake");
  co_return proto::Result<void>{};
}

awaitable<proto::Result<void>> write_line(beast::tcp_stream& s, const std::string& line) {
  error_code ec;
  co_await asio::async_write(s, asio::buffer(line), redirect(ec));
  if (ec) co_return proto::fail(Errc::peer_gone, describe(ec));
  co_return proto::Result<void>{};
}

// A relay may sit behind the environment's proxy; a peer's own addresses never do.
awaitable<proto::Result<beast::tcp_stream>> dial(const proto::TransitHint& hint) {
  if (hint.relay) co_return co_await connect_tcp(hint.host, hint.port, kHintConnect);
  co_return co_await connect_tcp_direct(hint.host, hint.port, kHintConnect);
}

// The handshake on one connection, through the sender's decision; true when it won.
awaitable<proto::Result<bool>> handshake(Race& race, beast::tcp_stream& s, proto::TransitRole role,
                                         const proto::WormholeKey& key, bool relay,
                                         const std::string& relay_side) {
  s.expires_after(kTransitDeadline);
  if (relay) {
    const std::string line = proto::transit_relay_handshake(key, relay_side);
    if (auto r = co_await write_line(s, line); !r) co_return std::unexpected(r.error());
    if (auto r = co_await expect(s, "ok\n"); !r) co_return std::unexpected(r.error());
  }
  const bool sender = role == proto::TransitRole::sender;
  const std::string mine =
      sender ? proto::transit_sender_handshake(key) : proto::transit_receiver_handshake(key);
  const std::string theirs =
      sender ? proto::transit_receiver_handshake(key) : proto::transit_sender_handshake(key);
  if (auto r = co_await write_line(s, mine); !r) co_return std::unexpected(r.error());
  if (auto r = co_await expect(s, theirs); !r) co_return std::unexpected(r.error());
  if (!sender) {
    // The sender says "go" on the one connection it keeps, "nevermind" on the others.
    if (auto r = co_await expect(s, "go\n"); !r)
      co_return proto::fail(Errc::no_path, "the sender chose another connection");
    co_return true;
  }
  if (race.decided) {
    const std::string no = "nevermind\n";
    co_await write_line(s, no);
    co_return false;
  }
  race.decided = true;
  const std::string go = "go\n";
  if (auto r = co_await write_line(s, go); !r) co_return std::unexpected(r.error());
  co_return true;
}

void won(Race& race, beast::tcp_stream&& s, bool relay, std::string peer) {
  if (race.winner) return;
  s.expires_never();
  race.winner.emplace(TransitConnection{std::move(s), relay, std::move(peer)});
  race.done.cancel();
}

awaitable<void> try_hint(std::shared_ptr<Race> race, proto::TransitHint hint, std::size_t index,
                         proto::TransitRole role, proto::WormholeKey key, std::string relay_side) {
  auto stream = co_await dial(hint);
  if (!stream) {
    race->outcomes[index] = stream.error().detail;
  } else {
    auto s = std::make_shared<beast::tcp_stream>(std::move(*stream));
    race->live.push_back(s);
    auto r = co_await handshake(*race, *s, role, key, hint.relay, relay_side);
    if (r && *r)
      won(*race, std::move(*s), hint.relay,
          wormhole_shown(hint.host) + ":" + std::to_string(hint.port));
    else
      race->outcomes[index] = r ? "the sender chose another connection" : r.error().detail;
  }
  if (--race->outbound_left == 0 && !race->listening) race->done.cancel();
}

awaitable<void> take_inbound(std::shared_ptr<Race> race, std::shared_ptr<beast::tcp_stream> s,
                             proto::TransitRole role, proto::WormholeKey key) {
  race->live.push_back(s);
  error_code ec;
  const std::string peer = endpoint_text(s->socket().remote_endpoint(ec));
  auto r = co_await handshake(*race, *s, role, key, false, {});
  if (r && *r) won(*race, std::move(*s), false, peer);
}

awaitable<void> accept_loop(std::shared_ptr<Race> race, TransitListener* listener,
                            proto::TransitRole role, proto::WormholeKey key) {
  for (;;) {
    error_code ec;
    auto socket = co_await listener->acceptor().async_accept(redirect(ec));
    if (ec || race->winner) co_return;
    // Anyone may connect to the listening port: a few connections are a receiver, more are
    // not, and each would hold a descriptor until the race ends.
    if (++race->inbound > kMaxInbound) {
      socket.close(ec);
      continue;
    }
    tune_for_bulk(socket);
    auto s = std::make_shared<beast::tcp_stream>(std::move(socket));
    asio::co_spawn(listener->acceptor().get_executor(), take_inbound(race, s, role, key),
                   asio::detached);
  }
}

}  // namespace

proto::Result<TransitListener> TransitListener::open(const asio::any_io_executor& ex) {
  tcp::acceptor a(ex);
  error_code ec;
  a.open(tcp::v6(), ec);
  if (!ec) a.set_option(asio::ip::v6_only(false), ec);
  if (!ec) a.bind(tcp::endpoint(tcp::v6(), 0), ec);
  if (ec) {
    // No IPv6 here: IPv4 alone.
    a = tcp::acceptor(ex);
    a.open(tcp::v4(), ec);
    if (!ec) a.bind(tcp::endpoint(tcp::v4(), 0), ec);
  }
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return proto::fail(Errc::io_error, "cannot listen for wormhole connections: " + describe(ec));
  return TransitListener(std::move(a));
}

std::vector<proto::TransitHint> TransitListener::hints() const {
  error_code ec;
  const auto port = acceptor_.local_endpoint(ec).port();
  const bool v6 = acceptor_.local_endpoint(ec).protocol() == tcp::v6();
  std::vector<proto::TransitHint> out;
  std::vector<proto::TransitHint> loopback;
  for (const auto& a : local_addresses()) {
    if (a.is_v6() && !v6) continue;
    // As wormhole does: loopback only when there is nothing else (a peer elsewhere would reach
    // a port on its own machine).
    (a.is_loopback() ? loopback : out).push_back({a.to_string(), port, false});
  }
  if (out.empty()) out = loopback;
  if (out.size() > proto::kMaxTransitHints) out.resize(proto::kMaxTransitHints);
  return out;
}

awaitable<proto::Result<TransitConnection>> transit_connect(proto::TransitRole role,
                                                            std::vector<proto::TransitHint> hints,
                                                            const proto::WormholeKey& transit_key,
                                                            TransitListener* listener) {
  auto ex = co_await asio::this_coro::executor;
  auto race = std::make_shared<Race>(ex);
  if (hints.empty() && listener == nullptr)
    co_return proto::fail(Errc::no_path,
                          "the wormhole peer named no address to connect to and no transit relay; "
                          "give both sides a transit helper (--transit-helper)");
  race->outcomes.assign(hints.size(), "timed out");
  race->outbound_left = hints.size();
  race->listening = listener != nullptr;
  const std::string relay_side = random_hex(8);
  for (std::size_t i = 0; i < hints.size(); ++i)
    asio::co_spawn(ex, try_hint(race, hints[i], i, role, transit_key, relay_side), asio::detached);
  if (listener != nullptr)
    asio::co_spawn(ex, accept_loop(race, listener, role, transit_key), asio::detached);
  if (!hints.empty() || listener != nullptr) {
    error_code ec;
    co_await race->done.async_wait(redirect(ec));
  }
  for (auto& s : race->live) s->close();
  if (listener != nullptr) {
    error_code ignored;
    listener->acceptor().close(ignored);
  }
  if (!race->winner) {
    std::string tried;
    for (std::size_t i = 0; i < hints.size(); ++i)
      tried += (tried.empty() ? "" : "; ") + std::string(hints[i].relay ? "relay " : "") +
               wormhole_shown(hints[i].host) + ":" + std::to_string(hints[i].port) + " (" +
               race->outcomes[i] + ")";
    if (listener != nullptr)
      tried += std::string(tried.empty() ? "" : "; ") + "waited for it to connect here";
    co_return proto::fail(Errc::no_path, "could not connect to the wormhole peer: tried " + tried);
  }
  co_return std::move(*race->winner);
}

namespace {
awaitable<proto::Result<proto::Bytes>> read_record(beast::tcp_stream& s,
                                                   proto::TransitRecords& records,
                                                   std::uint32_t max, proto::Bytes& buf) {
  std::array<std::uint8_t, 4> len{};
  error_code ec;
  s.expires_after(kRecordStall);
  co_await asio::async_read(s, asio::buffer(len), redirect(ec));
  const std::uint32_t n = proto::read_u32(len.data());
  if (!ec && n > max)
    co_return proto::fail(Errc::protocol,
                          "the wormhole peer sent a record over " + proto::human_bytes(max));
  buf.resize(n);
  if (!ec) co_await asio::async_read(s, asio::buffer(buf), redirect(ec));
  if (ec) co_return proto::fail(Errc::peer_gone, describe(ec));
  co_return records.open(buf);
}
}  // namespace

awaitable<proto::Result<std::string>> receive_transit_records(
    beast::tcp_stream& s, proto::TransitRecords& records, std::uint64_t size,
    const std::function<proto::Result<void>(proto::ByteView)>& write, Observer& observer) {
  proto::Sha256Stream sha;
  ProgressClock clock;
  std::uint64_t received = 0;
  // Large reads, many records opened out of each, and large writes: a wormhole sender's 16 KiB
  // records one read and one write each cost more than the crypto.
  std::vector<std::uint8_t> in(kMaxRecordBytes + 4 + kReceiveBuffer);
  std::size_t have = 0;
  std::vector<std::uint8_t> plain(kReceiveBuffer + kMaxRecordBytes);
  std::size_t ready = 0;
  const auto flush = [&]() -> proto::Result<void> {
    if (ready == 0) return {};
    sha.update({plain.data(), ready});
    auto w = write({plain.data(), ready});
    ready = 0;
    return w;
  };
  while (received < size) {
    // Every whole record in the buffer.
    std::size_t used = 0;
    while (have - used >= 4) {
      const std::uint32_t n = proto::read_u32(in.data() + used);
      if (n > kMaxRecordBytes)
        co_return proto::fail(Errc::protocol, "the wormhole peer sent a record over " +
                                                  proto::human_bytes(kMaxRecordBytes));
      if (have - used - 4 < n) break;
      if (n < proto::kTransitRecordOverhead || n - proto::kTransitRecordOverhead > size - received)
        co_return proto::fail(Errc::protocol, "the wormhole sender sent more than it offered");
      auto opened = records.open_into({in.data() + used + 4, n}, plain.data() + ready);
      if (!opened) co_return std::unexpected(opened.error());
      ready += *opened;
      received += *opened;
      used += 4 + n;
      if (ready >= kReceiveBuffer) {
        if (auto w = flush(); !w) co_return std::unexpected(w.error());
      }
    }
    std::memmove(in.data(), in.data() + used, have - used);
    have -= used;
    if (received >= size) break;
    if (auto w = flush(); !w) co_return std::unexpected(w.error());
    if (clock.due()) observer.on_event(event::Progress{received, size, clock.seconds()});
    error_code ec;
    s.expires_after(kRecordStall);
    const std::size_t n =
        co_await s.async_read_some(asio::buffer(in.data() + have, in.size() - have), redirect(ec));
    if (ec)
      co_return proto::fail(Errc::peer_gone, "lost the wormhole sender mid-transfer (" +
                                                 describe(ec) + ") after " +
                                                 proto::human_bytes(received) + " of " +
                                                 proto::human_bytes(size) + "; nothing was kept");
    have += n;
  }
  if (auto w = flush(); !w) co_return std::unexpected(w.error());
  if (have != 0)
    co_return proto::fail(Errc::protocol, "the wormhole sender sent more than it offered");
  observer.on_event(event::Progress{received, size, clock.seconds()});
  co_return sha.hex_digest();
}

awaitable<proto::Result<std::string>> send_transit_records(
    beast::tcp_stream& s, proto::TransitRecords& records, std::uint64_t size,
    const std::function<proto::Result<void>(std::span<std::uint8_t>)>& read, Observer& observer) {
  proto::Sha256Stream sha;
  ProgressClock clock;
  std::vector<std::uint8_t> buf(kSendRecordBytes);
  std::uint64_t sent = 0;
  while (sent < size) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size - sent));
    const std::span<std::uint8_t> chunk(buf.data(), n);
    if (auto r = read(chunk); !r) co_return std::unexpected(r.error());
    sha.update(chunk);
    const proto::Bytes record = records.seal(chunk);
    error_code ec;
    s.expires_after(kRecordStall);
    co_await asio::async_write(s, asio::buffer(record), redirect(ec));
    if (ec)
      co_return proto::fail(
          Errc::peer_gone, "lost the wormhole receiver mid-transfer (" + describe(ec) + ") after " +
                               proto::human_bytes(sent) + " of " + proto::human_bytes(size));
    sent += n;
    if (clock.due(sent == size)) observer.on_event(event::Progress{sent, size, clock.seconds()});
  }
  co_return sha.hex_digest();
}

awaitable<proto::Result<proto::Bytes>> receive_transit_record(beast::tcp_stream& s,
                                                              proto::TransitRecords& records) {
  proto::Bytes buf;
  co_return co_await read_record(s, records, kMaxAckBytes, buf);
}

}  // namespace ferry::session
