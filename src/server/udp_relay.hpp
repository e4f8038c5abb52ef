// The relay over UDP (proto/relay_udp.hpp): `ferry serve` forwards QUIC datagrams between the two
// sides of a session that bound their sockets with the session's grant, under the TCP relay's
// limits (bytes, rate and lifetime per session, bindings and binds per minute per address group,
// total bandwidth). Over a limit a datagram is dropped (QUIC slows down, as on a congested link);
// past the bytes or lifetime limit the session ends and both sides hear why.
//
// UdpRelayTable is the decisions, without sockets or clocks (datagrams and time in; answers and
// where to forward out), so its limits are unit-tested; UdpRelay is its socket.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/ip/udp.hpp>

#include "net/asio.hpp"
#include "proto/relay_udp.hpp"
#include "server/client_address.hpp"
#include "server/rate_limiter.hpp"
#include "server/relay.hpp"
#include "server/udp_socket.hpp"

namespace ferry::server {

struct UdpRelayStats {
  std::size_t bound = 0;   // sides bound now
  std::size_t active = 0;  // sessions with both sides bound
  std::uint64_t sessions = 0;
  std::uint64_t bytes = 0;                       // forwarded
  std::uint64_t dropped = 0;                     // datagrams over a rate, or from nobody bound
  std::map<std::string, std::uint64_t> refused;  // binds, by reason
  std::map<std::string, std::uint64_t> ended;    // sessions the relay ended, by limit
  std::uint64_t unbound = 0;                     // sides their clients unbound
};

class UdpRelayTable {
 public:
  using Clock = std::chrono::steady_clock;
  using Endpoint = net::asio::ip::udp::endpoint;
  // A side silent this long is unbound (QUIC sends at least every 15 s).
  static constexpr std::chrono::seconds kIdle{60};

  struct Answer {
    Endpoint to;
    proto::Bytes bytes;
    int side = -1;  // the bound side it goes to (its arrival address), or -1: to the sender
  };
  struct Verdict {
    // Forward the datagram as it is to this side's address (nullopt: not forwarded).
    std::optional<Endpoint> forward_to;
    int forward_side = -1;
    std::vector<Answer> answers;
  };

  UdpRelayTable(RelayLimits limits, proto::RelayKey key);

  // One datagram from `from` (its address group `group`); unix_now in seconds (grants expire by
  // the wall clock). The caller sends what the verdict says.
  Verdict on_datagram(Clock::time_point now, std::uint64_t unix_now, const Endpoint& from,
                      const std::string& group, proto::ByteView d);
  // Ends what is idle or past its lifetime; returns the answers telling bound sides why.
  std::vector<Answer> sweep(Clock::time_point now, std::uint64_t unix_now);
  const UdpRelayStats& stats() const { return stats_; }
  // Paired sessions that forwarded in the last kBusy (QUIC sends at least every 4 s while its
  // connection lives; the relay cannot see it close): what a drain waits for.
  static constexpr std::chrono::seconds kBusy{5};
  std::size_t forwarding(Clock::time_point now) const;
  // The side a bound address holds (for the socket's arrival-address bookkeeping).
  std::optional<std::pair<proto::RelaySessionId, int>> side_of(const Endpoint& e) const;

 private:
  struct Side {
    Endpoint at;
    std::string group;
    Clock::time_point last{};
  };
  struct Session {
    std::optional<Side> sides[2];
    std::uint64_t expires = 0;  // the grant's: unbound sides may come until then
    std::optional<Clock::time_point> paired_at;
    std::uint64_t bytes = 0;
    double tokens = 0;  // the session's rate bucket (bytes)
    Clock::time_point refilled{};
    std::optional<std::string> ended;  // the limit that ended it
  };

  Verdict bind(Clock::time_point now, std::uint64_t unix_now, const Endpoint& from,
               const std::string& group, proto::ByteView d);
  Verdict forward(Clock::time_point now, const Endpoint& from, proto::ByteView d);
  // A client's unbind: frees its side if it comes from the address bound to it, with its grant.
  void client_unbind(const Endpoint& from, const proto::RelayBind& b);
  proto::RelayCookie cookie(const Endpoint& from, const proto::RelaySessionId& id, int side,
                            std::uint64_t minute) const;
  Answer answer(const Endpoint& to, proto::RelayStatus status, proto::RelayCookie c = {}) const;
  // A limit refused or ended it: which, with the figure this relay allows.
  Answer limit_answer(const Endpoint& to, proto::RelayLimitKind kind) const;
  void unbind(Session& s, int side);
  // Ends a session at a limit: both sides are told which, and unbound.
  void end(Session& s, proto::RelayLimitKind kind, const std::string& reason,
           std::vector<Answer>& out);
  bool refuse(const std::string& reason);

  RelayLimits limits_;
  proto::RelayKey key_;
  std::array<std::uint8_t, 32> cookie_key_{};
  std::map<proto::RelaySessionId, Session> sessions_;
  std::map<Endpoint, std::pair<proto::RelaySessionId, int>> bound_;
  std::unordered_map<std::string, std::size_t> per_group_;
  AddressRateLimiter binds_;
  RateBuckets answers_;
  double bandwidth_tokens_ = 0;
  Clock::time_point bandwidth_refilled_{};
  UdpRelayStats stats_;
};

class UdpRelay {
 public:
  UdpRelay(net::asio::io_context& io, net::asio::ip::address ip, std::uint16_t port,
           RelayLimits limits, proto::RelayKey key);
  // Binds the port (0: any); an error says why it cannot.
  proto::Result<void> start();
  void stop();
  std::uint16_t port() const { return port_; }
  const UdpRelayStats& stats() const { return table_.stats(); }
  std::size_t forwarding() const { return table_.forwarding(UdpRelayTable::Clock::now()); }

 private:
  net::awaitable<void> serve();
  net::awaitable<void> sweep_loop();
  void send(const UdpRelayTable::Answer& a);

  net::asio::io_context& io_;
  net::asio::ip::address ip_;
  std::uint16_t port_;
  net::asio::ip::udp::socket socket_;
  UdpRelayTable table_;
  // The local address each bound side sent to, so what goes to it leaves from there.
  std::map<UdpRelayTable::Endpoint, std::pair<Control, std::size_t>> arrival_;
  bool stopped_ = false;
};

}  // namespace ferry::server
