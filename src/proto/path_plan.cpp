#include "proto/path_plan.hpp"

#include <algorithm>

#include "proto/stun.hpp"

namespace ferry::proto {

namespace {

void add_unique(std::vector<Candidate>& list, const Candidate& c) {
  const bool seen = std::any_of(list.begin(), list.end(), [&](const Candidate& o) {
    return o.address == c.address && o.port == c.port;
  });
  if (!seen) list.push_back(c);
}

// The peer's candidates this side may try: in scope, and allowed by the policy.
std::vector<Candidate> usable(const PlanInput& in, std::vector<Candidate> list,
                              std::vector<std::string>& notes) {
  if (in.policy.relay_only) return {};
  for (auto& n : restrict_to_scope(list, in.scope)) notes.push_back(std::move(n));
  if (!in.policy.tcp) {
    std::erase_if(list, [](const Candidate& c) { return c.transport == Transport::tcp; });
  }
  if (!in.policy.udp || !in.udp_socket) {
    std::erase_if(list, [](const Candidate& c) { return c.transport == Transport::udp; });
  }
  return list;
}

// A global unicast IPv6 address (2000::/3): what home routers and mobile carriers give, mostly
// behind a stateful firewall that drops unsolicited connections, as a cone NAT would.
bool global_ipv6(const std::string& address) {
  const auto ip = parse_ip(address);
  return ip && ip->size() == 16 && ((*ip)[0] & 0xE0) == 0x20;
}

std::vector<TcpAttempt> tcp_attempts(const PlanInput& in, const std::vector<Candidate>& list) {
  std::vector<TcpAttempt> out;
  for (const auto& c : list) {
    if (c.transport != Transport::tcp) continue;
    // A public address with a listening port behind a cone NAT (or a global IPv6 address behind
    // a stateful firewall): both sides dialling it from their own listening ports meet in a
    // simultaneous open where a plain dial would be dropped. Where nothing filters, the same
    // dial is simply accepted.
    const bool simultaneous =
        in.listening && (c.kind == CandidateKind::srflx || global_ipv6(c.address));
    out.push_back({c, simultaneous ? TcpMethod::simultaneous_open : TcpMethod::dial});
  }
  return out;
}

}  // namespace

bool punch_plausible(UdpMapping mine, UdpMapping theirs) {
  return mine != UdpMapping::unknown && theirs != UdpMapping::unknown &&
         !(mine == UdpMapping::dependent && theirs == UdpMapping::dependent);
}

PathPlan plan_paths(const PlanInput& in) {
  PathPlan plan;
  const bool sender = in.side == Side::sender;
  plan.budget = sender ? kSenderRaceBudget : kReceiverRaceBudget;
  const auto list = usable(in, in.theirs.list, plan.notes);
  plan.tcp = tcp_attempts(in, list);

  if (in.udp_socket && in.policy.udp && !in.policy.relay_only) {
    PunchPlan punch;
    for (const auto& c : list) {
      if (c.transport != Transport::udp) continue;
      add_unique(punch.targets, c);
      if (c.kind == CandidateKind::srflx) punch.their_public = c;
    }
    const auto mine = in.mine.udp_mapping;
    const auto theirs = in.theirs.udp_mapping;
    punch.quic_fingerprint = in.theirs.quic_fingerprint;
    punch.both_hard = mine == UdpMapping::dependent && theirs == UdpMapping::dependent;
    if (punch.their_public && !punch.both_hard) {
      if (mine == UdpMapping::dependent) punch.birthday = Birthday::open_sockets;
      if (theirs == UdpMapping::dependent) punch.birthday = Birthday::probe_ports;
    }
    if (!sender && in.theirs.quic_fingerprint.size() != 32) {
      plan.notes.emplace_back("direct UDP: the sender offered no QUIC");
    } else if (punch.targets.empty()) {
      plan.notes.emplace_back("direct UDP: the peer offered no UDP address");
    } else {
      plan.udp = std::move(punch);
    }
  }

  if (!in.mine.relay) return plan;  // the server issues no grant: it runs no relay
  if (!in.theirs.relay) {
    plan.notes.emplace_back("relay: the peer does not use it");
    return plan;
  }
  const bool direct_possible = !in.policy.relay_only && (!list.empty() || !in.mine.list.empty());
  auto head_start = std::chrono::milliseconds(0);
  if (!sender && direct_possible) {
    const auto base = punch_plausible(in.mine.udp_mapping, in.theirs.udp_mapping) && plan.udp
                          ? kRelayHeadStartPunching
                          : kRelayHeadStart;
    head_start = std::clamp(2 * in.connect_time, base, std::max(base, kRelayHeadStartMax));
  }
  plan.relay_after = head_start;
  plan.relay_tcp = in.policy.relay_tcp;
  return plan;
}

LaterAttempts plan_later(const PlanInput& in, std::vector<Candidate> more) {
  LaterAttempts out;
  const auto list = usable(in, std::move(more), out.notes);
  out.tcp = tcp_attempts(in, list);
  for (const auto& c : list) {
    if (c.transport == Transport::udp) add_unique(out.udp, c);
  }
  return out;
}

}  // namespace ferry::proto
