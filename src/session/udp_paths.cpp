#include "session/udp_paths.hpp"

#include <sodium.h>

#include <algorithm>

#include "net/join.hpp"
#include "net/tcp.hpp"
#include "proto/punch.hpp"

namespace ferry::session {

using namespace net;
using namespace std::chrono_literals;
using proto::Errc;

namespace {
constexpr auto kQuicHandshake = 5s;

proto::IpPort ip_port(const udp::endpoint& ep) {
  const auto a = unmapped(ep.address());
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    return {proto::Bytes(b.begin(), b.end()), ep.port()};
  }
  const auto b = a.to_v6().to_bytes();
  return {proto::Bytes(b.begin(), b.end()), ep.port()};
}

bool is_v6(const proto::Candidate& c) {
  return c.address.find(':') != std::string::npos;
}
}  // namespace

struct UdpPaths::Socket {
  std::shared_ptr<UdpMux> mux;
  std::size_t index = 0;                  // in sockets_: the punch schedule's socket number
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
  auto opened = UdpMux::open(ex_, bind_to);
  if (!opened) return nullptr;
  auto mux = *opened;
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
  s->index = sockets_.size();
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
    out.list.push_back({proto::Transport::udp, addr.to_string(), port, proto::CandidateKind::host});
    hosts.push_back(addr.to_string());
  }
  if (sender_) {
    auto identity = QuicIdentity::generate();
    if (identity) {
      identity_ = *identity;
      out.quic_fingerprint = identity_->fingerprint();
    } else {
      notes_.push_back("direct UDP: " + identity.error().detail);
    }
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
  std::vector<Task<std::optional<udp::endpoint>>> asks;
  for (std::size_t i = 0; i < std::min<std::size_t>(2, stun_ports.size()); ++i) {
    asks.emplace_back([mux = main_->mux, to = udp::endpoint(server_ip, stun_ports[i]), stun_wait] {
      return mux->stun_mapped(to, stun_wait);
    });
  }
  const auto mapped = co_await all_of(asks);
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
    out.list.push_back(
        {proto::Transport::udp, public_ip, first.port(), proto::CandidateKind::srflx});
  }
}

void UdpPaths::send_ping(Socket& s, const udp::endpoint& to) {
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
  if (schedule_) schedule_->on_peer_probe(s->index, ip_port(from));
  if (probe->kind == proto::ProbeKind::ping) {
    // Answer on the path it came by: its source is the peer as our NAT... and its NAT see it.
    const auto pong = proto::encode_probe({proto::ProbeKind::pong, secrets_.side, probe->nonce},
                                          secrets_.keys.punch);
    s->mux->send(pong, from);
    if (!sender_ && !quic_) send_ping(*s, from);  // learned (peer-reflexive): confirm it
    return true;
  }
  if (probe->nonce != nonce_) return true;  // a pong to someone else's ping
  if (schedule_) schedule_->on_pong(std::chrono::steady_clock::now(), s->index, ip_port(from));
  // Our ping came back answered: this path works both ways. The receiver opens QUIC on it.
  if (!sender_ && !quic_) start_quic(s, from);
  return true;
}

void UdpPaths::start_quic(const std::shared_ptr<Socket>& s, const udp::endpoint& to) {
  use_quic(s, QuicConnection::connect(s->mux, to, pinned_, first_rtt()));
}

void UdpPaths::use_quic(const std::shared_ptr<Socket>& s,
                        proto::Result<std::shared_ptr<QuicConnection>> quic) {
  if (quic) {
    quic_ = std::move(*quic);
    quic_socket_ = s;
  } else {
    quic_failure_ = quic.error().detail;
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
  use_quic(s, QuicConnection::accept(s->mux, from, identity_, d, first_rtt()));
}

awaitable<proto::Result<UdpPipe>> UdpPaths::connect(const SessionSecrets& secrets,
                                                    proto::PunchPlan plan,
                                                    std::chrono::milliseconds budget) {
  auto keep = shared_from_this();
  secrets_ = secrets;
  if (!main_) co_return proto::fail(Errc::no_path, "direct UDP: no socket of ours");
  if (sender_ && !identity_) co_return proto::fail(Errc::no_path, "direct UDP: no QUIC identity");
  if (!sender_) pinned_ = plan.quic_fingerprint;
  // An IPv4-only socket cannot reach the peer's IPv6 candidates.
  if (!main_->mux->v6()) {
    std::erase_if(plan.targets, is_v6);
    if (plan.their_public && is_v6(*plan.their_public)) plan.their_public.reset();
  }
  schedule_.emplace(plan, std::chrono::steady_clock::now(), budget);
  add_targets(later_targets_);
  if (schedule_->target_count() == 0) {
    co_return proto::fail(Errc::no_path, "direct UDP: the peer offered no UDP address");
  }
  // Our NAT maps each destination anew: fresh sockets toward the peer's public address.
  if (const auto wanted = schedule_->sockets_wanted(); wanted > 0) {
    const bool v4 = !is_v6(*plan.their_public);
    std::size_t opened = 0;
    for (; opened < wanted; ++opened) {
      const auto any = v4 ? asio::ip::address(asio::ip::address_v4::any())
                          : asio::ip::address(asio::ip::address_v6::any());
      if (!add_socket(udp::endpoint(any, 0))) break;  // out of descriptors: use what we have
    }
    schedule_->sockets_opened(opened);
  }
  const auto rng = [](std::uint32_t n) { return randombytes_uniform(n); };
  while (!quic_ && quic_failure_.empty() &&
         !schedule_->exhausted(std::chrono::steady_clock::now())) {
    for (const auto& p : schedule_->due(std::chrono::steady_clock::now(), rng)) {
      if (p.socket < sockets_.size())
        send_ping(*sockets_[p.socket], udp::endpoint(address_of(p.to), p.to.port));
    }
    wake_.expires_at(schedule_->next_wakeup());
    error_code ec;
    co_await wake_.async_wait(redirect(ec));
  }
  schedule_->stop();
  const auto targets = schedule_->target_count();
  const std::string tried =
      "direct UDP to " + std::to_string(targets) + " address" + (targets == 1 ? "" : "es") +
      (plan.birthday == proto::Birthday::open_sockets
           ? " (from " + std::to_string(sockets_.size()) +
                 " sockets: our NAT maps each destination anew)"
       : plan.birthday == proto::Birthday::probe_ports
           ? " (and " + std::to_string(schedule_->random_probes()) +
                 " probes to random ports: their NAT maps each destination anew)"
           : "");
  if (!quic_) {
    stop();
    co_return proto::fail(
        Errc::no_path, tried + ": " +
                           (!quic_failure_.empty() ? quic_failure_
                            : plan.both_hard ? "no probe answered (both NATs map each destination "
                                               "to a new port: no direct UDP path exists)"
                                             : "no probe answered"));
  }
  // Close the sockets that lost, keep answering on the winner.
  for (auto& s : sockets_) {
    if (s != quic_socket_) s->mux->close();
  }
  sockets_ = {quic_socket_};
  auto quic = quic_;
  if (auto up = co_await quic->established(kQuicHandshake); !up) {
    stop();
    co_return proto::fail(Errc::no_path, tried + ": QUIC to " + endpoint_text(quic->remote()) +
                                             " did not open: " + up.error().detail);
  }
  co_return UdpPipe{quic->stream(), endpoint_text(quic->remote())};
}

void UdpPaths::add_targets(const std::vector<proto::Candidate>& more) {
  if (!main_) return;
  for (const auto& c : more) {
    if (c.transport != proto::Transport::udp || (is_v6(c) && !main_->mux->v6())) continue;
    if (!schedule_) {
      later_targets_.push_back(c);
    } else if (auto t = proto::ip_port_of(c)) {
      schedule_->add_target(*t);
    }
  }
}

std::chrono::nanoseconds UdpPaths::first_rtt() const {
  return schedule_ ? schedule_->first_rtt() : std::chrono::nanoseconds(0);
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
