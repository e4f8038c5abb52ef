#include "session/relay_udp.hpp"

#include "net/tcp.hpp"
#include "proto/relay_udp.hpp"

namespace ferry::session {

using namespace net;
using namespace std::chrono_literals;
using proto::Errc;
using proto::RelayStatus;

namespace {
constexpr auto kFirstAnswer = 3s;     // no answer at all by then: UDP to the relay is blocked
constexpr auto kResendEarly = 250ms;  // until the relay answered
constexpr auto kResendWaiting = 1s;   // keeps the binding alive while the peer comes
constexpr auto kQuicHandshake = 5s;

bool same(const udp::endpoint& a, const udp::endpoint& b) {
  return a.port() == b.port() && unmapped(a.address()) == unmapped(b.address());
}

// The attempt's state, shared with the socket's handlers until QUIC takes over.
struct Attempt {
  explicit Attempt(const asio::any_io_executor& ex) : wake(ex) {}
  std::shared_ptr<UdpMux> mux;
  udp::endpoint relay;
  proto::RelayBind bind;
  bool answered = false;
  bool paired = false;
  std::optional<proto::Error> refused;
  std::shared_ptr<QuicConnection> quic;
  std::string quic_failure;
  std::chrono::steady_clock::time_point sent_at{};
  std::chrono::nanoseconds rtt{0};  // the first answer's delay: QUIC's first estimate
  asio::steady_timer wake;
};
}  // namespace

namespace {
// "<host>:<port> over QUIC/UDP": where, in the relay's errors.
std::string relay_udp_where(const RelayUdpTarget& t) {
  const bool v6 = t.relay.host.find(':') != std::string::npos;
  return (v6 ? "[" + t.relay.host + "]" : t.relay.host) + ":" + std::to_string(t.port) +
         " over QUIC/UDP";
}
}  // namespace

std::string relay_udp_name(const RelayUdpTarget& t) {
  return "relay at " + relay_udp_where(t);
}

awaitable<proto::Result<UdpPipe>> connect_relay_udp(RelayUdpTarget target,
                                                    std::chrono::milliseconds wait,
                                                    std::function<bool()> wanted) {
  auto ex = co_await asio::this_coro::executor;
  const std::string name = relay_udp_name(target);
  const bool sender = target.side == proto::Side::sender;
  if (target.grant.size() != proto::kRelayGrantBytes) {
    co_return proto::fail(Errc::no_path, name + ": the server issued no usable grant");
  }
  if (sender ? !target.identity : target.pinned.empty()) {
    co_return proto::fail(Errc::no_path, name + ": no QUIC certificate to use");
  }
  udp::resolver resolver(ex);
  error_code ec;
  const auto found = co_await resolver.async_resolve(target.relay.host, "0", redirect(ec));
  if (ec || found.empty()) {
    co_return proto::fail(Errc::no_path, name + ": cannot resolve the relay: " + describe(ec));
  }
  auto a = std::make_shared<Attempt>(ex);
  a->relay = udp::endpoint(found.begin()->endpoint().address(), target.port);
  // Dual-stack where IPv6 exists, else IPv4 only.
  auto opened = UdpMux::open(ex, udp::endpoint(asio::ip::address_v6::any(), 0));
  if (!opened) opened = UdpMux::open(ex, udp::endpoint(asio::ip::address_v4::any(), 0));
  if (!opened) co_return proto::fail(Errc::no_path, name + ": cannot open a UDP socket");
  a->mux = *opened;
  a->bind.side = target.side;
  std::copy(target.grant.begin(), target.grant.end(), a->bind.grant.begin());
  // Once bound, the side is freed at the relay when this socket closes (the connection ended,
  // or the race did not need it), not after a minute of silence. Sent twice: it is never
  // answered, and a lost one costs a binding held until then.
  auto bound = std::make_shared<bool>(false);
  a->mux->on_close = [bound, relay = a->relay,
                      unbind = proto::encode(
                          proto::RelayBind{a->bind.side, a->bind.grant, {}, true})](UdpMux& mux) {
    if (!*bound) return;
    mux.send(unbind, relay);
    mux.send(unbind, relay);
  };
  std::weak_ptr<Attempt> weak = a;
  a->mux->on_relay = [weak, bound, where = relay_udp_where(target)](proto::ByteView d,
                                                                    const udp::endpoint& from) {
    auto at = weak.lock();
    if (!at || !same(from, at->relay)) return;  // not the relay's: ignored
    const auto answer = proto::decode_relay_answer(d);
    if (!answer) return;
    if (answer->status == RelayStatus::waiting || answer->status == RelayStatus::paired) {
      *bound = true;
    }
    if (!at->answered) at->rtt = std::chrono::steady_clock::now() - at->sent_at;
    at->answered = true;
    switch (answer->status) {
      case RelayStatus::challenge:
        at->bind.cookie = answer->cookie;
        at->mux->send(proto::encode(at->bind), at->relay);
        at->sent_at = std::chrono::steady_clock::now();
        return;
      case RelayStatus::waiting:
        return;
      case RelayStatus::paired:
        at->paired = true;
        break;
      default:
        at->refused = proto::relay_answer_error(*answer, where);
        if (at->quic) at->quic->end(*at->refused);
        break;
    }
    at->wake.cancel();
  };
  std::shared_ptr<QuicIdentity> identity = target.identity;
  a->mux->on_quic = [weak, sender, identity](proto::ByteView d, const udp::endpoint& from) {
    auto at = weak.lock();
    if (!at || !same(from, at->relay)) return;
    if (at->quic) return at->quic->on_packet(d, from);
    // The sender answers the receiver's Initial, which only the relay forwards (and only once
    // both sides bound with the grant); the pinned certificate and the hellos do the rest.
    if (!sender || !QuicConnection::is_initial(d)) return;
    auto quic = QuicConnection::accept(at->mux, at->relay, identity, d, at->rtt);
    if (quic) {
      at->quic = *quic;
    } else {
      at->quic_failure = quic.error().detail;
    }
    at->wake.cancel();
  };
  a->mux->start();
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + wait;
  while (!a->quic && a->quic_failure.empty() && !a->refused) {
    const auto now = std::chrono::steady_clock::now();
    if (!wanted()) {
      a->mux->close();
      co_return proto::fail(Errc::no_path, name + ": not needed");
    }
    if (!a->answered && now - start >= kFirstAnswer) {
      a->mux->close();
      co_return proto::fail(Errc::no_path, name + ": no answer (UDP to the relay may be blocked)");
    }
    if (now >= deadline) {
      a->mux->close();
      co_return proto::fail(
          Errc::no_path,
          name + ": the " + std::string(sender ? "receiver" : "sender") + " did not bind in time");
    }
    if (a->paired && !sender) {
      auto quic = QuicConnection::connect(a->mux, a->relay, target.pinned, a->rtt);
      if (!quic) {
        a->quic_failure = quic.error().detail;
        break;
      }
      a->quic = *quic;
      break;
    }
    a->mux->send(proto::encode(a->bind), a->relay);
    a->sent_at = now;
    a->wake.expires_after(a->answered ? kResendWaiting : kResendEarly);
    co_await a->wake.async_wait(redirect(ec));
  }
  if (a->refused) {
    a->mux->close();
    co_return std::unexpected(*a->refused);
  }
  if (!a->quic) {
    a->mux->close();
    co_return proto::fail(Errc::no_path, name + ": " + a->quic_failure);
  }
  auto quic = a->quic;
  if (auto up = co_await quic->established(kQuicHandshake); !up) {
    quic->abort();
    co_return proto::fail(Errc::no_path, name + ": QUIC did not open: " + up.error().detail);
  }
  // From now on the socket is the connection's: its packets go to it, and a relay that ends the
  // session at a limit closes it.
  std::weak_ptr<QuicConnection> wq = quic;
  const auto relay = a->relay;
  a->mux->on_quic = [wq, relay](proto::ByteView d, const udp::endpoint& from) {
    if (auto q = wq.lock(); q && same(from, relay)) q->on_packet(d, from);
  };
  a->mux->on_relay = [wq, relay, where = relay_udp_where(target)](proto::ByteView d,
                                                                  const udp::endpoint& from) {
    const auto answer = proto::decode_relay_answer(d);
    if (auto q = wq.lock();
        q && answer && same(from, relay) && answer->status != RelayStatus::paired &&
        answer->status != RelayStatus::waiting && answer->status != RelayStatus::challenge) {
      q->end(proto::relay_answer_error(*answer, where));
    }
  };
  co_return UdpPipe{quic->stream(), endpoint_text(relay)};
}

}  // namespace ferry::session
