// The race between paths under a fake clock: the relay's head start and its hold while a direct
// connection authenticates, the move from the relay to a direct pipe, and the give-up report.
#include "proto/race.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

using namespace std::chrono_literals;
using Clock = Race::Clock;
using Verdict = Race::Verdict;
using Phase = Race::Phase;

const Clock::time_point t0{};

Race receiver_race() {
  Race r(Side::receiver, 15s);
  r.set_budget(t0, 10s);
  return r;
}

// The sender's side of a race whose peers both allow the transport trial.
Race trial_sender() {
  Race r(Side::sender, 15s);
  r.set_budget(t0, 10s);
  r.allow_transport_trial(true);
  return r;
}

TEST(Race, TheFirstAuthenticatedPipeWinsOnTheReceiverAndTheRelayIsNeverStarted) {
  auto race = receiver_race();
  race.plan_relay(t0 + 600ms);
  const auto tcp = race.begin(PathKind::direct, true);
  const auto udp = race.begin(PathKind::direct, true);
  EXPECT_FALSE(race.start_relay_due(t0 + 10ms));
  EXPECT_EQ(race.next_wakeup(), t0 + 600ms);
  race.connected(tcp);
  EXPECT_EQ(race.authenticated(tcp, "direct to A"), Verdict::select);
  EXPECT_TRUE(race.decided());
  EXPECT_EQ(race.winner(), tcp);
  EXPECT_FALSE(race.start_relay_due(t0 + 700ms));
  EXPECT_EQ(race.advance(t0 + 20ms), Phase::over);  // a direct winner: nothing else is needed
  race.connected(udp);
  EXPECT_EQ(race.authenticated(udp, "direct to B"), Verdict::close);
  EXPECT_FALSE(race.relay_started());
}

TEST(Race, TheRelayStartsAfterItsHeadStartButWaitsForADirectPipeAuthenticating) {
  auto race = receiver_race();
  race.plan_relay(t0 + 600ms);
  const auto tcp = race.begin(PathKind::direct, true);
  race.connected(tcp);  // connected at 590 ms: hellos under way on a long link
  EXPECT_FALSE(race.start_relay_due(t0 + 600ms));
  EXPECT_EQ(race.next_wakeup(), t0 + 600ms + Race::kRelayHoldMax);
  EXPECT_EQ(race.authenticated(tcp, "direct to A"), Verdict::select);
  EXPECT_FALSE(race.start_relay_due(t0 + 800ms));  // never needed
  EXPECT_FALSE(race.relay_started());

  auto slow = receiver_race();
  slow.plan_relay(t0 + 600ms);
  const auto stuck = slow.begin(PathKind::direct, true);
  slow.connected(stuck);  // a middlebox that passes the SYN and eats the rest
  EXPECT_FALSE(slow.start_relay_due(t0 + 600ms + Race::kRelayHoldMax - 1ms));
  EXPECT_TRUE(slow.start_relay_due(t0 + 600ms + Race::kRelayHoldMax));
  EXPECT_FALSE(slow.start_relay_due(t0 + 3s));  // once
}

TEST(Race, AnAcceptedConnectionHoldsTheRelayAndAWideTcpMemberLeavesNoTrace) {
  auto race = receiver_race();
  race.plan_relay(t0 + 600ms);
  race.set_listening(true);
  // A wide TCP pipe's members arrive (accepted, their first bytes not read yet): the first one's
  // attempt is the pipe's, the others join it.
  const auto first = race.begin(PathKind::direct, false);
  race.connected(first);
  const auto member = race.begin(PathKind::direct, false);
  race.connected(member);
  EXPECT_FALSE(race.start_relay_due(t0 + 600ms));
  race.joined(member);
  race.joined(member);                             // twice: nothing more
  EXPECT_FALSE(race.start_relay_due(t0 + 700ms));  // the first one still holds it
  race.failed(first, {"direct from A (8 TCP connections)", "5 of 8 came within 5 s"});
  EXPECT_TRUE(race.start_relay_due(t0 + 700ms));  // nothing direct authenticating any more
  EXPECT_EQ(race.tried().size(), 1U);             // the member that joined has no line of its own
  EXPECT_EQ(race.tried().front().why, "5 of 8 came within 5 s");

  // A winner is never forgotten.
  auto won = receiver_race();
  const auto pipe = won.begin(PathKind::direct, false);
  won.connected(pipe);
  ASSERT_EQ(won.authenticated(pipe, "direct from A"), Verdict::select);
  won.joined(pipe);
  EXPECT_EQ(won.winner(), pipe);
  EXPECT_EQ(won.path_of(pipe), PathKind::direct);
}

TEST(Race, ARelayWinMovesToADirectPipeThatOpensLater) {
  auto race = receiver_race();
  race.plan_relay(t0);
  const auto punch = race.begin(PathKind::direct, true);
  ASSERT_TRUE(race.start_relay_due(t0));
  const auto relay = race.begin(PathKind::relay, true);
  race.connected(relay);
  EXPECT_EQ(race.authenticated(relay, "relay at S"), Verdict::select);
  EXPECT_EQ(race.advance(t0 + 100ms), Phase::upgrading);  // the punch still runs
  EXPECT_EQ(race.next_wakeup(), t0 + 100ms + 15s);
  const auto accepted = race.begin(PathKind::relay, false);
  EXPECT_EQ(race.authenticated(accepted, "relay again"), Verdict::close);  // not better
  race.connected(punch);
  EXPECT_EQ(race.authenticated(punch, "direct to B (QUIC over UDP)"), Verdict::select);
  EXPECT_EQ(race.upgrades(), std::vector<AttemptId>{punch});
  EXPECT_EQ(race.phase(), Phase::over);
  EXPECT_EQ(race.winner(), relay);
}

TEST(Race, TheUpgradeWindowEnds) {
  auto race = receiver_race();
  race.plan_relay(t0);
  (void)race.begin(PathKind::direct, true);
  ASSERT_TRUE(race.start_relay_due(t0));
  const auto relay = race.begin(PathKind::relay, true);
  EXPECT_EQ(race.authenticated(relay, "relay"), Verdict::select);
  EXPECT_EQ(race.advance(t0), Phase::upgrading);
  EXPECT_EQ(race.advance(t0 + 15s), Phase::over);
  EXPECT_TRUE(race.upgrades().empty());
}

TEST(Race, ARelayWinWithNoDirectAttemptLeftEndsTheRace) {
  auto race = receiver_race();
  race.plan_relay(t0);
  const auto tcp = race.begin(PathKind::direct, true);
  race.failed(tcp, {"direct TCP to A", "refused"});
  ASSERT_TRUE(race.start_relay_due(t0));
  const auto relay = race.begin(PathKind::relay, true);
  EXPECT_EQ(race.authenticated(relay, "relay"), Verdict::select);
  EXPECT_EQ(race.advance(t0), Phase::over);
}

TEST(Race, TheSenderTakesThePipeThatCarriesSelect) {
  Race race(Side::sender, 15s);
  race.set_budget(t0, 14s);
  const auto a = race.begin(PathKind::direct, true);
  const auto b = race.begin(PathKind::direct, false);
  EXPECT_EQ(race.authenticated(a, "direct to A"), Verdict::wait);
  EXPECT_EQ(race.authenticated(b, "direct from B"), Verdict::wait);
  EXPECT_FALSE(race.decided());
  EXPECT_EQ(race.selected(b, "direct from B"), Verdict::take);
  EXPECT_EQ(race.winner(), b);
  EXPECT_EQ(race.selected(a, "direct to A"), Verdict::close);  // a confused or hostile peer
}

TEST(Race, ASelectThatCannotBeSentLosesTheRace) {
  auto race = receiver_race();
  const auto a = race.begin(PathKind::direct, true);
  EXPECT_EQ(race.authenticated(a, "direct to A"), Verdict::select);
  race.select_failed(a, {"direct to A", "connection reset"});
  EXPECT_EQ(race.phase(), Phase::over);
  EXPECT_FALSE(race.winner());
  EXPECT_EQ(race.failure().code, Errc::no_path);
  EXPECT_EQ(race.failure().detail, "direct to A: connection reset");
}

TEST(Race, GivingUpReportsEveryAttemptAndNoteOnce) {
  auto race = receiver_race();
  race.note({"relay: the server S runs no relay", ""});
  const auto a = race.begin(PathKind::direct, true);
  const auto b = race.begin(PathKind::direct, true);
  race.failed(a, {"direct TCP to 203.0.113.1:4000", "connection refused"});
  EXPECT_EQ(race.advance(t0 + 1s), Phase::racing);  // b still runs
  race.failed(b, {"direct UDP to 1 address", "no probe answered"});
  EXPECT_EQ(race.advance(t0 + 2s), Phase::over);  // nothing left, nobody can dial us
  EXPECT_EQ(race.failure().detail,
            "no connection to the other side could be opened. Tried:\n"
            "  - relay: the server S runs no relay\n"
            "  - direct TCP to 203.0.113.1:4000: connection refused\n"
            "  - direct UDP to 1 address: no probe answered");
}

TEST(Race, ListeningKeepsTheRaceOpenUntilTheBudgetAndSaysSo) {
  auto race = receiver_race();
  race.set_listening(true);
  const auto a = race.begin(PathKind::direct, true);
  race.connected(a);
  EXPECT_EQ(race.advance(t0 + 9s), Phase::racing);
  EXPECT_EQ(race.next_wakeup(), t0 + 10s);
  EXPECT_EQ(race.advance(t0 + 10s), Phase::over);
  EXPECT_NE(race.failure().detail.find("(still trying after 10 s)"), std::string::npos);
}

TEST(Race, ThePeersFailureEndsTheRaceUnlessAPipeWon) {
  auto race = receiver_race();
  (void)race.begin(PathKind::direct, true);
  race.peer_failed({Errc::no_path, "the sender gave up: it could not reach you either."});
  EXPECT_EQ(race.phase(), Phase::over);
  EXPECT_EQ(race.failure().detail.rfind("the sender gave up", 0), 0u);

  auto won = receiver_race();
  const auto a = won.begin(PathKind::direct, true);
  EXPECT_EQ(won.authenticated(a, "direct"), Verdict::select);
  won.peer_failed({Errc::server_unreachable, "the server went away"});
  EXPECT_EQ(won.winner(), a);
}

TEST(Race, NamesAtTheEdge) {
  EXPECT_EQ(path_kind_name(PathKind::relay), "relay");
  EXPECT_EQ(pipe_transport_name(PipeTransport::quic), "quic");
  EXPECT_EQ(format_tried("Tried:", {{"a", ""}, {"b", "why"}}), "Tried:\n  - a\n  - b: why");
}

TEST(Race, ADirectWinnerWaitsForTheOtherTransportOnlyWhereBothSidesAllowTheTrial) {
  // Without the trial (an older peer): TCP wins, the QUIC attempt is closed.
  auto plain = receiver_race();
  const auto tcp0 = plain.begin(PathKind::direct, true, PipeTransport::tcp);
  plain.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(plain.authenticated(tcp0, "direct to A"), Verdict::select);
  EXPECT_EQ(plain.advance(t0 + 20ms), Phase::over);

  auto race = receiver_race();
  race.allow_transport_trial(true);
  const auto tcp = race.begin(PathKind::direct, true, PipeTransport::tcp);
  const auto tcp2 = race.begin(PathKind::direct, true, PipeTransport::tcp);
  const auto quic = race.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(race.authenticated(tcp, "direct to A"), Verdict::select);
  EXPECT_EQ(race.advance(t0 + 20ms), Phase::upgrading);
  EXPECT_EQ(race.next_wakeup(), t0 + 20ms + 15s);
  // Another TCP pipe is no trial; the QUIC one is.
  EXPECT_EQ(race.authenticated(tcp2, "direct to B"), Verdict::close);
  EXPECT_EQ(race.tried().back().why, "another path won");
  EXPECT_EQ(race.authenticated(quic, "quic to A"), Verdict::select);
  EXPECT_EQ(race.upgrades(), std::vector<AttemptId>{quic});
  EXPECT_EQ(race.transport_of(quic), PipeTransport::quic);
  EXPECT_EQ(race.phase(), Phase::over);

  // The sender's side: QUIC won; a TCP pipe the receiver selected later is taken.
  auto sender = trial_sender();
  const auto q = sender.begin(PathKind::direct, true, PipeTransport::quic);
  const auto t = sender.begin(PathKind::direct, true, PipeTransport::tcp);
  EXPECT_EQ(sender.authenticated(q, "quic"), Verdict::wait);
  EXPECT_EQ(sender.selected(q, "quic"), Verdict::take);
  EXPECT_EQ(sender.advance(t0 + 20ms), Phase::upgrading);
  EXPECT_EQ(sender.authenticated(t, "tcp"), Verdict::wait);
  EXPECT_EQ(sender.selected(t, "tcp"), Verdict::take);
  EXPECT_EQ(sender.upgrades(), std::vector<AttemptId>{t});

  // Nothing of the other transport left running: no waiting.
  auto alone = receiver_race();
  alone.allow_transport_trial(true);
  const auto only = alone.begin(PathKind::direct, true, PipeTransport::tcp);
  alone.begin(PathKind::direct, false, PipeTransport::tcp);  // accepted: not ours to wait for
  EXPECT_EQ(alone.authenticated(only, "direct"), Verdict::select);
  EXPECT_EQ(alone.advance(t0 + 20ms), Phase::over);
}

TEST(Race, TheRelayOverUdpIsTriedBesideTheTcpRelayAndADirectPipeStillBeatsBoth) {
  auto race = receiver_race();
  race.allow_transport_trial(true);
  race.plan_relay(t0);
  const auto punch = race.begin(PathKind::direct, true, PipeTransport::quic);
  ASSERT_TRUE(race.start_relay_due(t0));
  const auto relay_tcp = race.begin(PathKind::relay, true, PipeTransport::tcp);
  const auto relay_udp = race.begin(PathKind::relay, true, PipeTransport::quic);
  EXPECT_EQ(race.authenticated(relay_tcp, "relay over TCP"), Verdict::select);
  EXPECT_EQ(race.advance(t0 + 100ms), Phase::upgrading);
  // The relay over UDP is the trial; the race goes on for the punch.
  EXPECT_EQ(race.authenticated(relay_udp, "relay over QUIC/UDP"), Verdict::select);
  EXPECT_EQ(race.upgrades(), std::vector<AttemptId>{relay_udp});
  EXPECT_EQ(race.phase(), Phase::upgrading);
  EXPECT_EQ(race.authenticated(punch, "direct (QUIC over UDP)"), Verdict::select);
  EXPECT_EQ(race.upgrades(), (std::vector<AttemptId>{relay_udp, punch}));
  EXPECT_EQ(race.phase(), Phase::over);
}

TEST(Race, OneTrialPerRaceAndNoneWithoutTheFeature) {
  // Without the trial the relay over UDP is just a slower relay: closed when TCP's won.
  auto plain = receiver_race();
  plain.plan_relay(t0);
  ASSERT_TRUE(plain.start_relay_due(t0));
  const auto tcp0 = plain.begin(PathKind::relay, true, PipeTransport::tcp);
  const auto udp0 = plain.begin(PathKind::relay, true, PipeTransport::quic);
  EXPECT_EQ(plain.authenticated(tcp0, "relay over TCP"), Verdict::select);
  EXPECT_EQ(plain.advance(t0 + 20ms), Phase::over);
  EXPECT_EQ(plain.authenticated(udp0, "relay over QUIC/UDP"), Verdict::close);

  // With it, and no direct attempt left, the trial ends the race.
  auto race = receiver_race();
  race.allow_transport_trial(true);
  race.plan_relay(t0);
  ASSERT_TRUE(race.start_relay_due(t0));
  const auto udp = race.begin(PathKind::relay, true, PipeTransport::quic);
  const auto tcp = race.begin(PathKind::relay, true, PipeTransport::tcp);
  EXPECT_EQ(race.authenticated(udp, "relay over QUIC/UDP"), Verdict::select);  // UDP first
  EXPECT_EQ(race.advance(t0 + 20ms), Phase::upgrading);
  EXPECT_EQ(race.authenticated(tcp, "relay over TCP"), Verdict::select);
  EXPECT_EQ(race.upgrades(), std::vector<AttemptId>{tcp});
  EXPECT_EQ(race.phase(), Phase::over);

  // A direct QUIC winner never waits for a relay attempt (the relay does not start after a win).
  auto direct = receiver_race();
  direct.allow_transport_trial(true);
  direct.plan_relay(t0 + 1s);
  const auto q = direct.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(direct.authenticated(q, "direct"), Verdict::select);
  EXPECT_FALSE(direct.start_relay_due(t0 + 2s));
  EXPECT_EQ(direct.advance(t0 + 2s), Phase::over);
}

// The receiver selected the relay over TCP as the winner and the relay over UDP as the trial; the
// sender heard the trial's select first. Tagged as an upgrade, it waits for the winner's and is
// taken as the upgrade, never as the winner (which left the two sides on different pipes).
TEST(Race, ASelectForAnUpgradeNeverMakesTheWinner) {
  auto sender = trial_sender();
  sender.plan_relay(t0);
  ASSERT_TRUE(sender.start_relay_due(t0));
  const auto tcp = sender.begin(PathKind::relay, true, PipeTransport::tcp);
  const auto udp = sender.begin(PathKind::relay, true, PipeTransport::quic);
  EXPECT_EQ(sender.authenticated(udp, "relay over QUIC/UDP"), Verdict::wait);
  EXPECT_EQ(sender.authenticated(tcp, "relay over TCP"), Verdict::wait);
  // (pipe_race holds the upgrade's select until the winner is known)
  EXPECT_FALSE(sender.winner());
  EXPECT_EQ(sender.selected(tcp, "relay over TCP"), Verdict::take);
  EXPECT_EQ(sender.winner(), tcp);
  // Still racing (advance() has not run): the upgrade is taken all the same.
  EXPECT_EQ(sender.phase(), Phase::racing);
  EXPECT_EQ(sender.selected(udp, "relay over QUIC/UDP", true), Verdict::take);
  EXPECT_EQ(sender.upgrades(), std::vector<AttemptId>{udp});
  EXPECT_EQ(sender.winner(), tcp);

  // An upgrade that upgrades nothing (the same transport) is refused.
  auto other = trial_sender();
  const auto a = other.begin(PathKind::direct, true, PipeTransport::tcp);
  const auto b = other.begin(PathKind::direct, true, PipeTransport::tcp);
  EXPECT_EQ(other.selected(a, "a"), Verdict::take);
  EXPECT_EQ(other.selected(b, "b", true), Verdict::close);
}

// The QUIC pipe's hello may be verified while the TCP winner's "select" is still being written,
// before the race has advanced to upgrading: it is the trial all the same (the lab once saw a
// transfer stay on CUBIC TCP for 54 s because such a pipe was closed as "another path won").
TEST(Race, AnUpgradeBetweenTheWinAndTheNextAdvanceIsTakenToo) {
  auto race = receiver_race();
  race.allow_transport_trial(true);
  const auto tcp = race.begin(PathKind::direct, true, PipeTransport::tcp);
  const auto quic = race.begin(PathKind::direct, true, PipeTransport::quic);
  const auto tcp2 = race.begin(PathKind::direct, true, PipeTransport::tcp);
  EXPECT_EQ(race.authenticated(tcp, "direct to A"), Verdict::select);
  EXPECT_EQ(race.phase(), Phase::racing);  // no advance() yet
  EXPECT_EQ(race.authenticated(tcp2, "direct to B"), Verdict::close);
  EXPECT_EQ(race.authenticated(quic, "quic to A"), Verdict::select);
  EXPECT_EQ(race.winner(), tcp);
  EXPECT_EQ(race.upgrades(), std::vector<AttemptId>{quic});
  EXPECT_EQ(race.phase(), Phase::over);

  // The sender, with untagged selects (an older receiver): the second one is the upgrade.
  auto sender = trial_sender();
  const auto t = sender.begin(PathKind::direct, true, PipeTransport::tcp);
  const auto q = sender.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(sender.selected(t, "tcp"), Verdict::take);
  EXPECT_EQ(sender.selected(q, "quic"), Verdict::take);
  EXPECT_EQ(sender.winner(), t);
  EXPECT_EQ(sender.upgrades(), std::vector<AttemptId>{q});

  // Without an upgrade window nothing is taken after the winner.
  Race none(Side::receiver, 0ms);
  none.set_budget(t0, 10s);
  none.allow_transport_trial(true);
  const auto a = none.begin(PathKind::direct, true, PipeTransport::tcp);
  const auto b = none.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(none.authenticated(a, "a"), Verdict::select);
  EXPECT_EQ(none.authenticated(b, "b"), Verdict::close);
}

// The sender's TCP is loss-based (CUBIC): on a long path, a TCP pipe that authenticates first
// waits a moment for QUIC, which then wins; the TCP pipe is closed, no trial (measured early it
// looks fast and collapses later).
Race quic_preferring_receiver() {
  auto r = receiver_race();
  r.allow_transport_trial(true);
  r.prefer_quic(true);
  return r;
}

TEST(Race, ALossBasedSendersTcpPipeWaitsForQuicWhichWinsAlone) {
  auto race = quic_preferring_receiver();
  const auto tcp = race.begin(PathKind::direct, true, PipeTransport::tcp);
  const auto quic = race.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(race.authenticated(tcp, "direct to A", t0 + 100ms, 80ms), Verdict::hold);
  EXPECT_TRUE(race.holding());
  EXPECT_FALSE(race.decided());
  EXPECT_EQ(race.next_wakeup(), t0 + 100ms + Race::kHoldRtts * 80ms);
  EXPECT_EQ(race.advance(t0 + 200ms), Phase::racing);
  EXPECT_TRUE(race.take_released().empty());
  EXPECT_EQ(race.authenticated(quic, "quic to A", t0 + 250ms, 80ms), Verdict::select);
  EXPECT_EQ(race.winner(), quic);
  EXPECT_EQ(race.advance(t0 + 250ms), Phase::over);  // nothing left to try
  using Released = std::vector<std::pair<AttemptId, Verdict>>;
  EXPECT_EQ(race.take_released(), (Released{{tcp, Verdict::close}}));
  EXPECT_TRUE(race.upgrades().empty());
  EXPECT_EQ(race.tried().back().why, Race::kQuicKept);
  EXPECT_FALSE(race.holding());

  // QUIC first, then such a TCP pipe: closed too, not a trial.
  auto first = quic_preferring_receiver();
  const auto q = first.begin(PathKind::direct, true, PipeTransport::quic);
  const auto t = first.begin(PathKind::direct, true, PipeTransport::tcp);
  EXPECT_EQ(first.authenticated(q, "quic to A", t0, 80ms), Verdict::select);
  EXPECT_EQ(first.advance(t0), Phase::upgrading);
  EXPECT_EQ(first.authenticated(t, "direct to A", t0 + 10ms, 80ms), Verdict::close);
  EXPECT_EQ(first.tried().back().why, Race::kQuicKept);
  // On a LAN it is the trial, as always.
  auto lan = quic_preferring_receiver();
  const auto lq = lan.begin(PathKind::direct, true, PipeTransport::quic);
  const auto lt = lan.begin(PathKind::direct, true, PipeTransport::tcp);
  EXPECT_EQ(lan.authenticated(lq, "quic to A", t0, 1ms), Verdict::select);
  EXPECT_EQ(lan.authenticated(lt, "direct to A", t0, 1ms), Verdict::select);
  EXPECT_EQ(lan.upgrades(), std::vector<AttemptId>{lt});
}

TEST(Race, AHeldTcpPipeWinsWhenTheHoldEndsOrNoQuicAttemptIsLeft) {
  using Released = std::vector<std::pair<AttemptId, Verdict>>;
  // The hold ends: TCP wins, and the race goes on for QUIC as its trial.
  auto race = quic_preferring_receiver();
  const auto tcp = race.begin(PathKind::direct, true, PipeTransport::tcp);
  const auto quic = race.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(race.authenticated(tcp, "direct to A", t0, 600ms), Verdict::hold);
  EXPECT_EQ(race.next_wakeup(), t0 + Race::kHoldMax);  // at most kHoldMax
  EXPECT_EQ(race.advance(t0 + Race::kHoldMax), Phase::upgrading);
  EXPECT_EQ(race.take_released(), (Released{{tcp, Verdict::select}}));
  EXPECT_EQ(race.winner(), tcp);
  EXPECT_EQ(race.authenticated(quic, "quic to A"), Verdict::select);
  EXPECT_EQ(race.upgrades(), std::vector<AttemptId>{quic});

  // The QUIC attempt fails: no need to wait out the hold.
  auto failing = quic_preferring_receiver();
  const auto t = failing.begin(PathKind::direct, true, PipeTransport::tcp);
  const auto q = failing.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(failing.authenticated(t, "direct to A", t0, 50ms), Verdict::hold);
  failing.failed(q, {"direct UDP", "no answer"});
  EXPECT_EQ(failing.advance(t0 + 60ms), Phase::over);
  EXPECT_EQ(failing.take_released(), (Released{{t, Verdict::select}}));
  EXPECT_EQ(failing.winner(), t);

  // The race's budget ends during the hold: the held pipe still wins.
  auto late = quic_preferring_receiver();
  const auto lt = late.begin(PathKind::direct, true, PipeTransport::tcp);
  late.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(late.authenticated(lt, "direct to A", t0 + 9900ms, 100ms), Verdict::hold);
  late.advance(t0 + 10s);
  EXPECT_EQ(late.winner(), lt);
  EXPECT_EQ(late.take_released(), (Released{{lt, Verdict::select}}));
}

TEST(Race, NoHoldOnAShortPathForQuicOfAnotherPathKindOrWithoutTheSendersWord) {
  // A LAN: CUBIC is fine there.
  auto lan = quic_preferring_receiver();
  const auto a = lan.begin(PathKind::direct, true, PipeTransport::tcp);
  lan.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(lan.authenticated(a, "direct to A", t0, 2ms), Verdict::select);

  // The relay over TCP does not wait for a punch (that is a direct pipe: it moves the transfer
  // off the relay anyway), only for the relay over UDP.
  auto relay = quic_preferring_receiver();
  relay.plan_relay(t0);
  relay.begin(PathKind::direct, true, PipeTransport::quic);
  ASSERT_TRUE(relay.start_relay_due(t0));
  const auto r = relay.begin(PathKind::relay, true, PipeTransport::tcp);
  EXPECT_EQ(relay.authenticated(r, "relay over TCP", t0, 80ms), Verdict::select);
  auto both = quic_preferring_receiver();
  both.plan_relay(t0);
  ASSERT_TRUE(both.start_relay_due(t0));
  const auto rt = both.begin(PathKind::relay, true, PipeTransport::tcp);
  const auto ru = both.begin(PathKind::relay, true, PipeTransport::quic);
  EXPECT_EQ(both.authenticated(rt, "relay over TCP", t0, 80ms), Verdict::hold);
  EXPECT_EQ(both.authenticated(ru, "relay over QUIC/UDP", t0 + 100ms, 80ms), Verdict::select);
  both.advance(t0 + 100ms);
  EXPECT_TRUE(both.upgrades().empty());
  EXPECT_EQ(both.tried().back().what, "relay over TCP");

  // A sender with BBR (or an older one) did not say: no hold.
  auto plain = receiver_race();
  plain.allow_transport_trial(true);
  const auto p = plain.begin(PathKind::direct, true, PipeTransport::tcp);
  plain.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(plain.authenticated(p, "direct to A", t0, 80ms), Verdict::select);

  // The sender never holds: the receiver chooses.
  auto sender = trial_sender();
  sender.prefer_quic(true);
  const auto s = sender.begin(PathKind::direct, true, PipeTransport::tcp);
  sender.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(sender.authenticated(s, "direct", t0, 80ms), Verdict::wait);
}

TEST(Race, AHeldPipeIsClosedAndReportedWhenTheRaceEnds) {
  auto race = quic_preferring_receiver();
  const auto tcp = race.begin(PathKind::direct, true, PipeTransport::tcp);
  race.begin(PathKind::direct, true, PipeTransport::quic);
  EXPECT_EQ(race.authenticated(tcp, "direct to A", t0, 80ms), Verdict::hold);
  race.stop();
  using Released = std::vector<std::pair<AttemptId, Verdict>>;
  EXPECT_EQ(race.take_released(), (Released{{tcp, Verdict::close}}));
  EXPECT_EQ(race.tried().back().what, "direct to A");
  EXPECT_EQ(race.tried().back().why, "the race ended");
}

}  // namespace
}  // namespace ferry::proto
