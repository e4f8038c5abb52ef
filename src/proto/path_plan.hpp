// Which paths to try toward the peer, and when: the decision, without sockets or clocks. Both
// sides' candidates, the NAT behaviour each side's STUN showed, where the server saw each side and
// the user's policy go in; the attempts come out: TCP dials (simultaneous open toward a public
// address through a cone NAT), the UDP punch (whose side does the birthday method), and when the
// relay may start, counted from the moment the peer's candidates arrived. Every candidate not
// tried comes out as a sentence for the failure report. session/pipe_race carries it out.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "proto/candidate_scope.hpp"
#include "proto/peer_message.hpp"

namespace ferry::proto {

// What the user allows (the CLI's flags and FERRY_NO_TCP / FERRY_NO_UDP).
struct PathPolicy {
  bool relay_only = false;  // --force-relay: no direct candidate offered or tried
  bool tcp = true;          // direct TCP both ways
  bool udp = true;          // UDP hole punching, then QUIC (and the relay over UDP)
  bool relay_tcp = true;    // the relay over TCP (or a WebSocket)
  bool relay_udp = true;    // the relay over UDP (QUIC through the relay)
  // Wide TCP: how many connections a direct TCP pipe we dial uses (where both sides name
  // wide-tcp); 0 decides by the round trip (FERRY_TCP_CONNECTIONS=n, for diagnosis).
  std::uint8_t tcp_connections = 0;
  // The largest TCP segment direct connections send and ask for (0: the path's): kNarrowTcpMss
  // once a path black-holed full-sized packets (Error::black_hole).
  std::uint16_t tcp_mss = 0;
};
// A TCP segment that fits IPv6's minimum MTU, 1280 bytes, with its IPv6 and TCP headers (IPv4's
// header is smaller, so it fits there too).
inline constexpr std::uint16_t kNarrowTcpMss = 1280 - 40 - 20;

enum class TcpMethod : std::uint8_t {
  dial,               // an ordinary connect()
  simultaneous_open,  // from our listening port, so that two NATs' dials meet
};
struct TcpAttempt {
  Candidate to;
  TcpMethod method = TcpMethod::dial;
};

// The birthday method, when exactly one side's NAT maps each destination to a new port: that side
// opens many sockets toward the other's public address; the other probes random ports of the
// hard side's public address. Both sides decide alike from the same two notes.
enum class Birthday : std::uint8_t {
  none,
  open_sockets,  // our NAT is the hard one
  probe_ports,   // theirs is
};

struct PunchPlan {
  std::vector<Candidate> targets;         // the peer's UDP candidates in scope, without duplicates
  std::optional<Candidate> their_public;  // the peer's public UDP address (its srflx)
  Birthday birthday = Birthday::none;
  bool both_hard = false;  // both NATs map each destination anew: no direct UDP path exists
  Bytes quic_fingerprint;  // the sender's certificate, which the receiver (QUIC client) pins
};

// What a side knows when the peer's candidates arrive.
struct PlanInput {
  Side side = Side::sender;
  Candidates mine;    // what this side offered (relay: the server granted us a relay)
  Candidates theirs;  // what the peer offered
  CandidateScope scope;
  PathPolicy policy;
  bool listening = false;   // this side listens on TCP (simultaneous open can use its port)
  bool udp_socket = false;  // this side has a UDP socket (gathered)
  // How long reaching the rendezvous took (the TCP and WebSocket handshakes: about two round
  // trips): the measure of this side's network by which head starts grow on long links.
  std::chrono::milliseconds connect_time{0};
};

struct PathPlan {
  std::vector<TcpAttempt> tcp;
  std::optional<PunchPlan> udp;
  // When this side may start the relay, after the peer's candidates arrived; nullopt: no relay
  // (one side has none). The sender waits at the relay at once (nothing flows through it until
  // the receiver selects it); the receiver gives direct paths a head start, longer while hole
  // punching may still open a path, and never shorter than a few round trips.
  std::optional<std::chrono::milliseconds> relay_after;
  bool relay_tcp = true;                // the policy's: whether the relay over TCP is among them
  std::chrono::milliseconds budget{0};  // how long the whole race may take
  std::vector<std::string> notes;       // what is not tried, and why
};

inline constexpr std::chrono::milliseconds kReceiverRaceBudget{10000};
inline constexpr std::chrono::milliseconds kSenderRaceBudget{14000};
inline constexpr std::chrono::milliseconds kRelayHeadStart{300};
inline constexpr std::chrono::milliseconds kRelayHeadStartPunching{600};
inline constexpr std::chrono::milliseconds kRelayHeadStartMax{2000};

PathPlan plan_paths(const PlanInput& in);

// The attempts for candidates the peer found later (ports its router mapped), under the same
// scope and policy; their UDP ones join the punch as targets.
struct LaterAttempts {
  std::vector<TcpAttempt> tcp;
  std::vector<Candidate> udp;
  std::vector<std::string> notes;
};
LaterAttempts plan_later(const PlanInput& in, std::vector<Candidate> more);

// Whether hole punching can plausibly open a path: both sides' STUN answered (UDP gets out) and
// at most one NAT maps each destination anew.
bool punch_plausible(UdpMapping mine, UdpMapping theirs);

}  // namespace ferry::proto
