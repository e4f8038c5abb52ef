// The path plan for every NAT pair of the lab's scenarios (tests/lab/scenarios.py), decided from
// the two notes alone: no sockets, no root.
#include "proto/path_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace ferry::proto {
namespace {

using namespace std::chrono_literals;

// One side of a lab row: its candidates as ferry would offer them behind that router, and where
// the server sees it. Side A sits at 10.0.1.2 behind 198.51.100.1 (or at 203.0.113.1 when
// public); side B at 10.0.2.2 behind 198.51.100.2 (or 203.0.113.2).
struct Host {
  Candidates offer;
  std::string observed;
};

Host host(const std::string& router, int n, bool same_lan = false) {
  const std::string n_s = std::to_string(n);
  const std::string public_ip = router == "public" ? "203.0.113." + n_s : "198.51.100." + n_s;
  const std::string lan_ip = same_lan ? "10.0.1." + std::to_string(n + 1) : "10.0.1" + n_s + ".2";
  Host h;
  h.observed = same_lan ? "198.51.100.1" : public_ip;
  const std::string local = router == "public" ? public_ip : lan_ip;
  h.offer.list.push_back({Transport::tcp, local, 4000, CandidateKind::host});
  if (router != "public")
    h.offer.list.push_back({Transport::tcp, h.observed, 4000, CandidateKind::srflx});
  h.offer.list.push_back({Transport::udp, local, 5000, CandidateKind::host});
  h.offer.quic_fingerprint = Bytes(32, 7);
  if (router == "udpblock") return h;  // STUN never answered: no public UDP address, no mapping
  if (router != "public")
    h.offer.list.push_back({Transport::udp, h.observed, 6000, CandidateKind::srflx});
  h.offer.udp_mapping = router == "symmetric" ? UdpMapping::dependent : UdpMapping::independent;
  return h;
}

PlanInput input(Side side, const Host& me, const Host& peer) {
  PlanInput in;
  in.side = side;
  in.mine = me.offer;
  in.theirs = peer.offer;
  in.scope = {peer.observed, me.observed};
  in.listening = true;
  in.udp_socket = true;
  return in;
}

int count(const std::vector<TcpAttempt>& tcp, TcpMethod method) {
  return static_cast<int>(
      std::count_if(tcp.begin(), tcp.end(), [&](const auto& a) { return a.method == method; }));
}

TEST(PathPlan, PublicPublicDialsAndPunchesAndTheReceiverGivesDirectAHeadStart) {
  const auto a = host("public", 1), b = host("public", 2);
  const auto s = plan_paths(input(Side::sender, a, b));
  ASSERT_EQ(s.tcp.size(), 1u);
  EXPECT_EQ(s.tcp[0].to.address, "203.0.113.2");
  EXPECT_EQ(s.tcp[0].method, TcpMethod::dial);
  ASSERT_TRUE(s.udp);
  EXPECT_EQ(s.udp->birthday, Birthday::none);
  EXPECT_EQ(s.relay_after, 0ms);  // the sender waits at the relay at once
  EXPECT_EQ(s.budget, kSenderRaceBudget);
  const auto r = plan_paths(input(Side::receiver, b, a));
  EXPECT_EQ(r.relay_after, kRelayHeadStartPunching);
  EXPECT_EQ(r.budget, kReceiverRaceBudget);
  EXPECT_TRUE(r.notes.empty());
}

TEST(PathPlan, AConeNatSideIsReachedBySimultaneousOpenAndItsPrivateAddressIsNotTried) {
  const auto a = host("cone", 1), b = host("public", 2);
  const auto from_public = plan_paths(input(Side::receiver, b, a));
  ASSERT_EQ(from_public.tcp.size(), 1u);
  EXPECT_EQ(from_public.tcp[0].to.address, "198.51.100.1");
  EXPECT_EQ(from_public.tcp[0].method, TcpMethod::simultaneous_open);
  ASSERT_EQ(from_public.notes.size(), 2u);  // its 10.0.11.2 over TCP and UDP
  EXPECT_NE(from_public.notes[0].find("not tried (a private address"), std::string::npos);
  const auto from_cone = plan_paths(input(Side::sender, a, b));
  EXPECT_EQ(count(from_cone.tcp, TcpMethod::dial), 1);
  ASSERT_TRUE(from_cone.udp);
  EXPECT_EQ(from_cone.udp->targets.size(), 1u);
}

TEST(PathPlan, ConeConeAndCgnatConeOpenTcpBothWaysAndPunchWithoutBirthday) {
  for (const auto* other : {"cone", "cgnat", "fullcone"}) {
    const auto a = host(other, 1), b = host("cone", 2);
    for (const auto& plan :
         {plan_paths(input(Side::sender, a, b)), plan_paths(input(Side::receiver, b, a))}) {
      EXPECT_EQ(count(plan.tcp, TcpMethod::simultaneous_open), 1) << other;
      ASSERT_TRUE(plan.udp) << other;
      EXPECT_EQ(plan.udp->birthday, Birthday::none);
      EXPECT_FALSE(plan.udp->both_hard);
      ASSERT_TRUE(plan.udp->their_public);
    }
  }
}

TEST(PathPlan, BirthdayMethodFallsToTheRightSides) {
  for (const auto* easy : {"cone", "fullcone"}) {
    const auto a = host(easy, 1), hard = host("symmetric", 2);
    const auto easy_plan = plan_paths(input(Side::sender, a, hard));
    const auto hard_plan = plan_paths(input(Side::receiver, hard, a));
    ASSERT_TRUE(easy_plan.udp && hard_plan.udp);
    EXPECT_EQ(easy_plan.udp->birthday, Birthday::probe_ports) << easy;
    EXPECT_EQ(hard_plan.udp->birthday, Birthday::open_sockets) << easy;
    EXPECT_EQ(hard_plan.udp->their_public->address, "198.51.100.1");
    EXPECT_EQ(hard_plan.relay_after, kRelayHeadStartPunching);
  }
}

TEST(PathPlan, SymmetricSymmetricKnowsNoUdpPathExistsAndShortensTheRelayHeadStart) {
  const auto a = host("symmetric", 1), b = host("symmetric", 2);
  const auto r = plan_paths(input(Side::receiver, b, a));
  ASSERT_TRUE(r.udp);
  EXPECT_TRUE(r.udp->both_hard);
  EXPECT_EQ(r.udp->birthday, Birthday::none);
  EXPECT_EQ(r.relay_after, kRelayHeadStart);  // punching is not plausible
}

TEST(PathPlan, AUdpBlockedSideIsReachedByTcpAndGetsTheShortRelayHeadStart) {
  const auto blocked = host("udpblock", 1), cone = host("cone", 2);
  const auto from_blocked = plan_paths(input(Side::sender, blocked, cone));
  EXPECT_EQ(count(from_blocked.tcp, TcpMethod::simultaneous_open), 1);
  ASSERT_TRUE(from_blocked.udp);  // it cannot know its probes will not get out
  EXPECT_EQ(from_blocked.udp->targets.size(), 1u);
  const auto from_cone = plan_paths(input(Side::receiver, cone, blocked));
  EXPECT_FALSE(from_cone.udp);
  EXPECT_NE(std::find(from_cone.notes.begin(), from_cone.notes.end(),
                      "direct UDP: the peer offered no UDP address"),
            from_cone.notes.end());
  EXPECT_EQ(from_cone.relay_after, kRelayHeadStart);
}

TEST(PathPlan, TheSameLanTriesPrivateAddresses) {
  const auto a = host("cone", 1, true), b = host("cone", 2, true);
  const auto plan = plan_paths(input(Side::receiver, b, a));
  ASSERT_EQ(plan.tcp.size(), 2u);
  EXPECT_EQ(plan.tcp[0].to.address, "10.0.1.2");
  EXPECT_EQ(plan.tcp[0].method, TcpMethod::dial);
  ASSERT_TRUE(plan.udp);
  EXPECT_EQ(plan.udp->targets.size(), 2u);
  EXPECT_TRUE(plan.notes.empty());
}

TEST(PathPlan, AGlobalIpv6AddressIsOpenedFromBothSidesAsThroughACone) {
  // Both sides reached the server over IPv6; behind their routers' stateful firewalls each has
  // a global address (and its IPv4 side may be hopeless: symmetric, or UDP blocked).
  Host a, b;
  a.observed = "2001:db8:1::2";
  b.observed = "2001:db8:2::2";
  for (auto* h : {&a, &b}) {
    h->offer.list = {{Transport::tcp, h->observed, 4000, CandidateKind::host},
                     {Transport::tcp, "fd00::2", 4000, CandidateKind::host},
                     {Transport::udp, h->observed, 5000, CandidateKind::host}};
    h->offer.udp_mapping = UdpMapping::dependent;  // its IPv4 NAT
    h->offer.quic_fingerprint = Bytes(32, 7);
  }
  const auto plan = plan_paths(input(Side::receiver, b, a));
  ASSERT_EQ(plan.tcp.size(), 1u);  // the ULA is another network's
  EXPECT_EQ(plan.tcp[0].to.address, "2001:db8:1::2");
  EXPECT_EQ(plan.tcp[0].method, TcpMethod::simultaneous_open);
  ASSERT_TRUE(plan.udp);
  ASSERT_EQ(plan.udp->targets.size(), 1u);
  EXPECT_EQ(plan.udp->targets[0].address, "2001:db8:1::2");
}

TEST(PathPlan, PolicyRelayOnlyAndDiagnosisSwitches) {
  const auto a = host("public", 1), b = host("public", 2);
  auto in = input(Side::receiver, b, a);
  in.policy.relay_only = true;
  auto plan = plan_paths(in);
  EXPECT_TRUE(plan.tcp.empty());
  EXPECT_FALSE(plan.udp);
  in.mine.list.clear();  // --force-relay offers nothing either
  plan = plan_paths(in);
  EXPECT_EQ(plan.relay_after, 0ms);  // no direct path can open: no head start

  in = input(Side::receiver, b, a);
  in.policy.tcp = false;
  plan = plan_paths(in);
  EXPECT_TRUE(plan.tcp.empty());
  EXPECT_TRUE(plan.udp);
  in = input(Side::receiver, b, a);
  in.policy.udp = false;
  plan = plan_paths(in);
  EXPECT_EQ(plan.tcp.size(), 1u);
  EXPECT_FALSE(plan.udp);
}

TEST(PathPlan, TheRelayHeadStartGrowsWithTheRoundTripAndIsCapped) {
  const auto a = host("public", 1), b = host("public", 2);
  auto in = input(Side::receiver, b, a);
  in.connect_time = 500ms;  // two round trips of 250 ms
  EXPECT_EQ(plan_paths(in).relay_after, 1000ms);
  in.connect_time = 5s;
  EXPECT_EQ(plan_paths(in).relay_after, kRelayHeadStartMax);
  in.side = Side::sender;
  EXPECT_EQ(plan_paths(in).relay_after, 0ms);
}

TEST(PathPlan, NoRelayWithoutAGrantAndNoQuicWithoutTheSendersCertificate) {
  const auto a = host("public", 1), b = host("public", 2);
  auto in = input(Side::receiver, b, a);
  in.mine.relay = false;
  EXPECT_FALSE(plan_paths(in).relay_after);
  in = input(Side::receiver, b, a);
  in.theirs.relay = false;
  EXPECT_FALSE(plan_paths(in).relay_after);
  in = input(Side::receiver, b, a);
  in.theirs.quic_fingerprint.clear();
  const auto plan = plan_paths(in);
  EXPECT_FALSE(plan.udp);
  EXPECT_EQ(plan.notes.back(), "direct UDP: the sender offered no QUIC");
}

TEST(PathPlan, LaterMappedPortsAreDialledWithinScope) {
  const auto a = host("upnp", 1), b = host("cone", 2);
  const auto in = input(Side::receiver, b, a);
  const auto later = plan_later(in, {{Transport::tcp, "198.51.100.1", 7000, CandidateKind::mapped},
                                     {Transport::udp, "198.51.100.1", 7001, CandidateKind::mapped},
                                     {Transport::tcp, "192.0.2.99", 7000, CandidateKind::mapped}});
  ASSERT_EQ(later.tcp.size(), 1u);
  EXPECT_EQ(later.tcp[0].method, TcpMethod::dial);
  ASSERT_EQ(later.udp.size(), 1u);
  EXPECT_EQ(later.udp[0].port, 7001);
  ASSERT_EQ(later.notes.size(), 1u);  // the address the server never saw the peer at
  EXPECT_NE(later.notes[0].find("192.0.2.99"), std::string::npos);
}

}  // namespace
}  // namespace ferry::proto
