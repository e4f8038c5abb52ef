// When to send which hole-punching probe, without sockets or clocks (proto/path_plan decides
// whether to punch at all; proto/punch makes the probes). The driver (session/udp_paths) asks
// due(now) for the probes to send, sleeps until next_wakeup(), and reports what arrives:
//   - every 100 ms a ping from the main socket to each of the peer's UDP candidates, and from each
//     socket to every address the peer's own valid probes came from (peer-reflexive);
//   - Birthday::open_sockets (our NAT is the hard one): one ping from each of up to 256 extra
//     sockets to the peer's public address, once (each opens a fresh mapping on our NAT);
//   - Birthday::probe_ports (theirs is): 40 pings every 10 ms to random ports of the peer's public
//     address, at most 20,000 in all, and none after the first pong;
// until the budget runs out. Sockets are numbered: 0 is the main socket, 1..n the extra ones.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "proto/path_plan.hpp"
#include "proto/stun.hpp"

namespace ferry::proto {

struct ProbeSend {
  std::size_t socket = 0;  // 0: the main socket; 1..n: the birthday sockets
  IpPort to;
};

class PunchSchedule {
 public:
  using Clock = std::chrono::steady_clock;
  // rng(n): a uniformly random number in [0, n).
  using Rng = std::function<std::uint32_t(std::uint32_t)>;

  static constexpr std::chrono::milliseconds kPingInterval{100};
  static constexpr std::chrono::milliseconds kTick{10};
  static constexpr std::size_t kBirthdaySockets = 256;
  // Random-port probes toward an endpoint-dependent NAT: 4,000 a second of 26 bytes (about
  // 2.5 Mbit/s with headers), for at most 5 s; a path usually opens within a few hundred.
  static constexpr int kBirthdayProbesPerTick = 40;
  static constexpr int kBirthdayMaxProbes = 20000;

  PunchSchedule(const PunchPlan& plan, Clock::time_point start, std::chrono::milliseconds budget);

  // How many extra sockets the driver should open (Birthday::open_sockets), and how many it did.
  std::size_t sockets_wanted() const;
  void sockets_opened(std::size_t n) { extra_sockets_ = n; }
  // Later candidates of the peer (ports its router mapped) join the targets.
  void add_target(const IpPort& to);

  // The probes to send now; an unparsable candidate is skipped.
  std::vector<ProbeSend> due(Clock::time_point now, const Rng& rng);
  // A valid probe of the peer's arrived on socket from `from`: ping it back from there too.
  void on_peer_probe(std::size_t socket, const IpPort& from);
  // A pong to our ping: the path works both ways. Random-port probing stops.
  void on_pong(Clock::time_point now, std::size_t socket, const IpPort& from);
  // QUIC took over (or the race is over): nothing more is due.
  void stop() { stopped_ = true; }

  Clock::time_point next_wakeup() const;
  bool exhausted(Clock::time_point now) const { return stopped_ || now >= deadline_; }
  // From the first ping to the first pong (zero before one came back).
  std::chrono::nanoseconds first_rtt() const { return first_rtt_; }
  std::optional<std::pair<std::size_t, IpPort>> answered() const { return answered_; }
  int random_probes() const { return random_probes_; }
  std::size_t target_count() const { return targets_.size(); }

 private:
  std::vector<IpPort> targets_;
  std::optional<IpPort> their_public_;
  Birthday birthday_;
  Clock::time_point deadline_;
  Clock::time_point next_ping_;
  Clock::time_point next_tick_;
  std::optional<Clock::time_point> first_ping_;
  std::chrono::nanoseconds first_rtt_{0};
  std::optional<std::pair<std::size_t, IpPort>> answered_;
  std::set<std::pair<std::size_t, std::pair<Bytes, std::uint16_t>>> reflexive_;
  std::size_t extra_sockets_ = 0;
  bool extra_pinged_ = false;
  int random_probes_ = 0;
  bool stopped_ = false;
};

// The candidate's address and port as a codec IpPort; nullopt when its address is no IP literal.
std::optional<IpPort> ip_port_of(const Candidate& c);

}  // namespace ferry::proto
