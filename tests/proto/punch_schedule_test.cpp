// The punch schedule under a fake clock: what is sent when, the birthday method's caps, and the
// stop at the first pong.
#include "proto/punch_schedule.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

using namespace std::chrono_literals;
using Clock = PunchSchedule::Clock;

const Clock::time_point t0{};

PunchPlan plan(Birthday birthday) {
  PunchPlan p;
  p.targets = {{Transport::udp, "10.0.0.9", 5000, CandidateKind::host},
               {Transport::udp, "198.51.100.2", 6000, CandidateKind::srflx},
               {Transport::udp, "198.51.100.2", 6000, CandidateKind::srflx}};  // a duplicate
  p.their_public = p.targets[1];
  p.birthday = birthday;
  return p;
}

// A deterministic "random" source: 0, 1, 2, ... modulo n.
struct Counter {
  std::uint32_t next = 0;
  std::uint32_t operator()(std::uint32_t n) { return next++ % n; }
};

TEST(PunchSchedule, PingsEveryTargetEvery100msUntilTheBudget) {
  PunchSchedule s(plan(Birthday::none), t0, 1s);
  Counter rng;
  EXPECT_EQ(s.sockets_wanted(), 0u);
  auto due = s.due(t0, std::ref(rng));
  ASSERT_EQ(due.size(), 2u);  // duplicates are one target
  EXPECT_EQ(due[0].socket, 0u);
  EXPECT_EQ(s.next_wakeup(), t0 + 100ms);
  EXPECT_TRUE(s.due(t0 + 50ms, std::ref(rng)).empty());
  EXPECT_EQ(s.due(t0 + 100ms, std::ref(rng)).size(), 2u);
  EXPECT_FALSE(s.exhausted(t0 + 999ms));
  EXPECT_TRUE(s.exhausted(t0 + 1s));
  EXPECT_TRUE(s.due(t0 + 1s, std::ref(rng)).empty());
}

TEST(PunchSchedule, PeerReflexiveAddressesArePingedFromTheSocketTheyCameTo) {
  PunchSchedule s(plan(Birthday::none), t0, 5s);
  Counter rng;
  (void)s.due(t0, std::ref(rng));
  const IpPort learned{{198, 51, 100, 2}, 41000};
  s.on_peer_probe(0, learned);
  s.on_peer_probe(0, learned);  // once is enough
  const auto due = s.due(t0 + 100ms, std::ref(rng));
  ASSERT_EQ(due.size(), 3u);
  EXPECT_EQ(due[2].to, learned);
}

TEST(PunchSchedule, TheHardSideOpensSocketsAndPingsOnceFromEach) {
  PunchSchedule s(plan(Birthday::open_sockets), t0, 5s);
  Counter rng;
  EXPECT_EQ(s.sockets_wanted(), PunchSchedule::kBirthdaySockets);
  s.sockets_opened(200);  // out of descriptors: fewer
  auto due = s.due(t0, std::ref(rng));
  ASSERT_EQ(due.size(), 200u + 2u);
  EXPECT_EQ(due[0].socket, 1u);
  EXPECT_EQ(due[199].socket, 200u);
  EXPECT_EQ(due[0].to.port, 6000);
  EXPECT_EQ(s.due(t0 + 100ms, std::ref(rng)).size(), 2u);  // the extra sockets ping once
  EXPECT_EQ(s.random_probes(), 0);
}

TEST(PunchSchedule, TheEasySideProbesRandomPortsAtABoundedRateAndStopsAtTheFirstPong) {
  PunchSchedule s(plan(Birthday::probe_ports), t0, 10s);
  Counter rng;
  auto due = s.due(t0, std::ref(rng));
  ASSERT_EQ(due.size(), 2u + PunchSchedule::kBirthdayProbesPerTick);
  EXPECT_EQ(due[2].to.ip, (Bytes{198, 51, 100, 2}));
  EXPECT_EQ(due[2].to.port, 1024);
  EXPECT_EQ(due[3].to.port, 1025);
  EXPECT_EQ(s.next_wakeup(), t0 + 10ms);
  EXPECT_EQ(s.due(t0 + 10ms, std::ref(rng)).size(), 40u);
  s.on_pong(t0 + 15ms, 0, IpPort{{198, 51, 100, 2}, 1030});
  EXPECT_EQ(s.first_rtt(), 15ms);
  ASSERT_TRUE(s.answered());
  EXPECT_EQ(s.answered()->second.port, 1030);
  EXPECT_TRUE(s.due(t0 + 20ms, std::ref(rng)).empty());  // no more random ports
  EXPECT_EQ(s.next_wakeup(), t0 + 100ms);
  EXPECT_EQ(s.random_probes(), 80);
}

TEST(PunchSchedule, RandomProbesStopAtTheCap) {
  PunchSchedule s(plan(Birthday::probe_ports), t0, 60s);
  Counter rng{30000};  // ports 31024.. never meet the targets' 5000 and 6000
  auto now = t0;
  int sent = 0;
  while (!s.exhausted(now) && now < t0 + 10s) {
    for (const auto& p : s.due(now, std::ref(rng))) sent += p.to.port != 5000 && p.to.port != 6000;
    now = s.next_wakeup();
  }
  EXPECT_EQ(s.random_probes(), PunchSchedule::kBirthdayMaxProbes);
  EXPECT_EQ(sent, PunchSchedule::kBirthdayMaxProbes);
  // 40 every 10 ms: the cap is reached after 5 s, then only the 100 ms pings remain.
  EXPECT_EQ(now, t0 + 10s);
}

TEST(PunchSchedule, WithoutThePeersPublicAddressThereIsNoBirthday) {
  auto p = plan(Birthday::probe_ports);
  p.their_public.reset();
  PunchSchedule s(p, t0, 5s);
  Counter rng;
  EXPECT_EQ(s.due(t0, std::ref(rng)).size(), 2u);
  s.stop();
  EXPECT_TRUE(s.exhausted(t0));
}

TEST(PunchSchedule, LaterTargetsJoinAndUnparsableOnesAreSkipped) {
  auto p = plan(Birthday::none);
  p.targets.push_back({Transport::udp, "not-an-ip", 1, CandidateKind::host});
  PunchSchedule s(p, t0, 5s);
  EXPECT_EQ(s.target_count(), 2u);
  s.add_target(*ip_port_of({Transport::udp, "198.51.100.2", 7001, CandidateKind::mapped}));
  Counter rng;
  EXPECT_EQ(s.due(t0, std::ref(rng)).size(), 3u);
}

}  // namespace
}  // namespace ferry::proto
