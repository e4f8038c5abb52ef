#include "session/udp_paths.hpp"

#include <sodium.h>

#include <algorithm>

#include "net/tcp.hpp"
#include "proto/punch.hpp"

namespace ferry::session {

using namespace net;
using namespace std::chrono_literals;
using proto::Errc;

namespace {
constexpr auto kPingInterval = 100ms;
constexpr auto kTick = 10ms;
constexpr auto kQuicHandshake = 5s;
constexpr std::size_t kBirthdaySockets = 256;
// Random-port probes per tick toward an endpoint-dependent NAT: 4,000 a second of 26 bytes (about
// 2.5 Mbit/s with headers), for at most 5 s; a path usually opens within a few hundred.
constexpr int kBirthdayProbesPerTick = 40;
constexpr int kBirthdayMaxProbes = 20000;

std::optional<udp::endpoint> parse_endpoint(const proto::Candidate& c) {
  error_code ec;
  const auto a = asio::ip::make_address(c.address, ec);
  if (ec) return std::nullopt;
  return udp::endpoint(a, c.port);
}
}  // namespace

struct UdpPaths::Socket {
  std::shared_ptr<UdpMux> mux;
  std::set<udp::endpoint> authenticated;  // sent us a valid probe: QUIC may come from them
};

UdpPaths::UdpPaths(const asio::any_io_executor& ex, proto::Side side)
    : ex_(ex),
      sender_(side == proto::Side::sender),
      gathered_wake_(ex, std::chrono::steady_clock::time_point::max()),
      wake_(ex) {
  secrets_.side = side;
  randombytes_buf(nonce_.data(), nonce_.size());
}

void UdpPaths::start_gather(const proto::ServerUrl& server, std::vector<std::uint16_t> stun_ports,
                            std::chrono::milliseconds stun_wait) {
  gathering_ = true;
  asio::co_spawn(
      ex_,
      [self = shared_from_this(), server, ports = std::move(stun_ports),
       stun_wait]() -> awaitable<void> {
        co_await self->gather(server, ports, stun_wait);
        self->gathering_ = false;
        self->gathered_wake_.cancel();
      },
      asio::detached);
}

awaitable<void> UdpPaths::add_candidates(proto::Candidates& out) {
  auto keep = shared_from_this();
  while (gathering_) {
    error_code ec;
    co_await gathered_wake_.async_wait(redirect(ec));
  }
  out.list.insert(out.list.end(), gathered_.list.begin(), gathered_.list.end());
  out.udp_mapping = gathered_.udp_mapping;
  out.quic_fingerprint = gathered_.quic_fingerprint;
}

UdpPaths::~UdpPaths() {
  try {
    stop();
  } catch (...) {  // a destructor cannot report; the sockets close with their owners
  }
}

std::shared_ptr<UdpPaths::Socket> UdpPaths::add_socket(const udp::endpoint& bind_to) {
  error_code ec;
  auto mux = UdpMux::open(ex_, bind_to, ec);
  if (!mux) return nullptr;
  auto s = std::make_shared<Socket>();
  s->mux = mux;
  std::weak_ptr<UdpPaths> weak = weak_from_this();
  std::weak_ptr<Socket> ws = s;
  mux->on_probe = [weak, ws](proto::ByteView d, const udp::endpoint& from) {
    auto self = weak.lock();
    auto sock = ws.lock();
    return self && sock && self->on_probe(sock, d, from);
  };
  mux->on_quic = [weak, ws](proto::ByteView d, const udp::endpoint& from) {
    auto self = weak.lock();
    auto sock = ws.lock();
    if (self && sock) self->on_quic(sock, d, from);
  };
  mux->start();
  sockets_.push_back(s);
  return s;
}

awaitable<void> UdpPaths::gather(proto::ServerUrl server, std::vector<std::uint16_t> stun_ports,
                                 std::chrono::milliseconds stun_wait) {
  proto::Candidates& out = gathered_;
  main_ = add_socket(udp::endpoint(asio::ip::address_v6::any(), 0));
  if (!main_) main_ = add_socket(udp::endpoint(asio::ip::address_v4::any(), 0));
  if (!main_) {
    notes_.push_back("direct UDP: cannot open a UDP socket");
    co_return;
  }
  const std::uint16_t port = main_->mux->local_endpoint().port();
  std::vector<std::string> hosts;
  for (const auto& addr : local_addresses()) {
    if (addr.is_v6() && !main_->mux->v6()) continue;
    out.list.push_back({"udp", addr.to_string(), port, "host"});
    hosts.push_back(addr.to_string());
  }
  if (sender_) {
    std::string error;
    identity_ = QuicIdentity::generate(error);
    if (!identity_) notes_.push_back("direct UDP: " + error);
    if (identity_) out.quic_fingerprint = identity_->fingerprint();
  }
  if (stun_ports.empty()) {
    notes_.push_back("direct UDP: the server runs no STUN, so only local addresses were offered");
    co_return;
  }
  udp::resolver resolver(ex_);
  error_code ec;
  const auto found = co_await resolver.async_resolve(server.host, "0", redirect(ec));
  if (ec || found.empty()) co_return;
  const auto server_ip = found.begin()->endpoint().address();
  // Both STUN ports at once: the two answers also show how our NAT maps.
  std::vector<std::optional<udp::endpoint>> mapped(std::min<std::size_t>(2, stun_ports.size()));
  int running = static_cast<int>(mapped.size());
  asio::steady_timer done(ex_, std::chrono::steady_clock::time_point::max());
  for (std::size_t i = 0; i < mapped.size(); ++i) {
    asio::co_spawn(
        ex_,
        [&, i, mux = main_->mux]() -> awaitable<void> {
          mapped[i] = co_await mux->stun_mapped(udp::endpoint(server_ip, stun_ports[i]), stun_wait);
          if (--running == 0) done.cancel();
        },
        asio::detached);
  }
  co_await done.async_wait(redirect(ec));
  if (!mapped[0] && !(mapped.size() > 1 && mapped[1])) {
    notes_.push_back("direct UDP: no STUN answer from " + server.host + " (UDP may be blocked)");
    co_return;
  }
  const auto& first = mapped[0] ? *mapped[0] : *mapped[1];
  if (mapped.size() > 1 && mapped[0] && mapped[1]) {
    mapping_ = mapped[0]->port() == mapped[1]->port() ? proto::UdpMapping::independent
                                                      : proto::UdpMapping::dependent;
  }
  out.udp_mapping = mapping_;
  const std::string public_ip = unmapped(first.address()).to_string();
  if (std::find(hosts.begin(), hosts.end(), public_ip) == hosts.end() || first.port() != port) {
    out.list.push_back({"udp", public_ip, first.port(), "srflx"});
  }
}

void UdpPaths::send_ping(Socket& s, const udp::endpoint& to) {
  if (!pinging_since_) pinging_since_ = std::chrono::steady_clock::now();
  const auto ping =
      proto::encode_probe({proto::ProbeKind::ping, secrets_.side, nonce_}, secrets_.keys.punch);
  s.mux->send(ping, to);
}

bool UdpPaths::on_probe(const std::shared_ptr<Socket>& s, proto::ByteView d,
                        const udp::endpoint& from) {
  const auto probe = proto::decode_probe(d, secrets_.keys.punch);
  if (!probe) return false;
  if (probe->from == secrets_.side || stopped_) return true;  // our own, reflected
  s->authenticated.insert(from);
  if (probe->kind == proto::ProbeKind::ping) {
    // Answer on the path it came by: its source is the peer as our NAT... and its NAT see it.
    const auto pong = proto::encode_probe({proto::ProbeKind::pong, secrets_.side, probe->nonce},
                                          secrets_.keys.punch);
    s->mux->send(pong, from);
    if (!sender_ && !quic_) send_ping(*s, from);  // learned (peer-reflexive): confirm it
    return true;
  }
  if (probe->nonce != nonce_) return true;  // a pong to someone else's ping
  if (first_rtt_.count() == 0 && pinging_since_) {
    first_rtt_ = std::chrono::steady_clock::now() - *pinging_since_;
  }
  // Our ping came back answered: this path works both ways. The receiver opens QUIC on it.
  if (!sender_ && !quic_) start_quic(s, from);
  return true;
}

void UdpPaths::start_quic(const std::shared_ptr<Socket>& s, const udp::endpoint& to) {
  std::string error;
  use_quic(s, QuicConnection::connect(s->mux, to, pinned_, first_rtt_, error), error);
}

void UdpPaths::use_quic(const std::shared_ptr<Socket>& s, std::shared_ptr<QuicConnection> quic,
                        const std::string& error) {
  quic_ = std::move(quic);
  if (quic_) {
    quic_socket_ = s;
  } else {
    quic_failure_ = error;
  }
  wake_.cancel();  // connect() goes on with the handshake, or reports the failure
}

void UdpPaths::on_quic(const std::shared_ptr<Socket>& s, proto::ByteView d,
                       const udp::endpoint& from) {
  if (quic_) {
    if (s == quic_socket_) quic_->on_packet(d, from);
    return;
  }
  // The sender answers a QUIC Initial only from an address that proved it holds the session key.
  if (!sender_ || !identity_ || stopped_ || !s->authenticated.contains(from) ||
      !QuicConnection::is_initial(d)) {
    return;
  }
  std::string error;
  use_quic(s, QuicConnection::accept(s->mux, from, identity_, d, first_rtt_, error), error);
}

awaitable<proto::Result<UdpPipe>> UdpPaths::connect(const SessionSecrets& secrets,
                                                    const proto::Candidates& theirs,
                                                    std::chrono::milliseconds budget) {
  auto keep = shared_from_this();
  secrets_ = secrets;
  const auto deadline = std::chrono::steady_clock::now() + budget;
  if (!main_) co_return proto::fail(Errc::no_path, "direct UDP: no socket of ours");
  if (sender_ && !identity_) co_return proto::fail(Errc::no_path, "direct UDP: no QUIC identity");
  if (!sender_) {
    if (theirs.quic_fingerprint.size() != 32) {
      co_return proto::fail(Errc::no_path, "direct UDP: the sender offered no QUIC");
    }
    pinned_ = theirs.quic_fingerprint;
  }
  std::optional<udp::endpoint> their_public;
  add_targets(theirs);
  for (const auto& c : theirs.list) {
    if (c.transport == "udp" && c.kind == "srflx") their_public = parse_endpoint(c);
  }
  const auto& targets = targets_;
  if (targets.empty())
    co_return proto::fail(Errc::no_path, "direct UDP: the peer offered no UDP address");

  // The birthday method when exactly one side's NAT maps each destination to a new port.
  const bool we_are_hard = mapping_ == proto::UdpMapping::dependent &&
                           theirs.udp_mapping != proto::UdpMapping::dependent;
  const bool they_are_hard = theirs.udp_mapping == proto::UdpMapping::dependent &&
                             mapping_ != proto::UdpMapping::dependent && their_public.has_value();
  if (we_are_hard && their_public) {
    for (std::size_t i = 0; i < kBirthdaySockets; ++i) {
      auto s = add_socket(udp::endpoint(their_public->address().is_v4()
                                            ? asio::ip::address(asio::ip::address_v4::any())
                                            : asio::ip::address(asio::ip::address_v6::any()),
                                        0));
      if (!s) break;  // out of descriptors: probe with what we have
      send_ping(*s, *their_public);
    }
  }
  int birthday_probes = 0;
  auto next_ping = std::chrono::steady_clock::now();
  while (!quic_ && quic_failure_.empty() && std::chrono::steady_clock::now() < deadline) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_ping) {
      for (const auto& t : targets) send_ping(*main_, t);
      for (auto& s : sockets_) {
        for (const auto& a : s->authenticated) send_ping(*s, a);
      }
      next_ping = now + kPingInterval;
    }
    if (they_are_hard && birthday_probes < kBirthdayMaxProbes) {
      for (int i = 0; i < kBirthdayProbesPerTick; ++i, ++birthday_probes) {
        const auto port = static_cast<std::uint16_t>(1024 + randombytes_uniform(65536 - 1024));
        send_ping(*main_, udp::endpoint(their_public->address(), port));
      }
    }
    wake_.expires_after(kTick);
    error_code ec;
    co_await wake_.async_wait(redirect(ec));
  }
  const std::string tried =
      "direct UDP to " + std::to_string(targets.size()) + " address" +
      (targets.size() == 1 ? "" : "es") +
      (we_are_hard     ? " (from 257 sockets: our NAT maps each destination anew)"
       : they_are_hard ? " (and " + std::to_string(birthday_probes) +
                             " probes to random ports: their NAT maps each destination anew)"
                       : "");
  if (!quic_) {
    stop();
    const bool both_hard = mapping_ == proto::UdpMapping::dependent &&
                           theirs.udp_mapping == proto::UdpMapping::dependent;
    co_return proto::fail(Errc::no_path,
                          tried + ": " +
                              (!quic_failure_.empty() ? quic_failure_
                               : both_hard ? "no probe answered (both NATs map each destination "
                                             "to a new port: no direct UDP path exists)"
                                           : "no probe answered"));
  }
  // Close the sockets that lost, keep answering on the winner.
  for (auto& s : sockets_) {
    if (s != quic_socket_) s->mux->close();
  }
  sockets_ = {quic_socket_};
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max(deadline - std::chrono::steady_clock::now(),
               std::chrono::steady_clock::duration(kQuicHandshake)));
  auto quic = quic_;
  if (auto ec =
          co_await quic->established(std::min(left, std::chrono::milliseconds(kQuicHandshake)));
      ec) {
    const std::string why = quic->failure();
    stop();
    co_return proto::fail(Errc::no_path, tried + ": QUIC to " + endpoint_text(quic->remote()) +
                                             " did not open: " + why);
  }
  co_return UdpPipe{quic->stream(), endpoint_text(quic->remote())};
}

void UdpPaths::add_targets(const proto::Candidates& more) {
  if (!main_) return;
  for (const auto& c : more.list) {
    if (c.transport != "udp") continue;
    auto ep = parse_endpoint(c);
    if (!ep || (ep->address().is_v6() && !main_->mux->v6())) continue;
    if (std::find(targets_.begin(), targets_.end(), *ep) == targets_.end()) targets_.push_back(*ep);
  }
}

std::uint16_t UdpPaths::local_port() const {
  return main_ ? main_->mux->local_endpoint().port() : 0;
}

void UdpPaths::stop() {
  if (stopped_) return;
  stopped_ = true;
  wake_.cancel();
  for (auto& s : sockets_) {
    if (s != quic_socket_ || !quic_) s->mux->close();
  }
}

}  // namespace ferry::session
