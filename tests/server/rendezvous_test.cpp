// The rendezvous state machine on its own: clients here are recorders, the state has no I/O.
#include "server/rendezvous.hpp"

#include <gtest/gtest.h>

namespace ferry::server {
namespace {

namespace rv = proto::rv;

struct Recorder : Client {
  std::vector<proto::ServerMessage> got;
  std::string kicked;
  void deliver(const proto::ServerMessage& m) override { got.push_back(m); }
  void kick(std::string_view code, std::string_view) override { kicked = std::string(code); }
};

struct RendezvousTest : ::testing::Test {
  std::vector<proto::Bytes> grants;
  Rendezvous r{RendezvousLimits{100, 4}, [this](const proto::Bytes& session) {
                 grants.push_back(session);
                 grants.back().push_back(0x99);
                 return grants.back();
               }};
};

TEST_F(RendezvousTest, PairsSenderAndReceiverAndRelaysMessages) {
  Recorder s, c;
  r.on_message(s, rv::Allocate{{}, {}});
  ASSERT_EQ(s.got.size(), 1u);
  const auto nameplate = std::get<rv::Allocated>(s.got[0]).nameplate;
  r.on_message(c, rv::Claim{nameplate});
  ASSERT_EQ(grants.size(), 1u);
  const auto& ps = std::get<rv::Paired>(s.got.at(1));
  const auto& pc = std::get<rv::Paired>(c.got.at(0));
  EXPECT_EQ(ps.session_id, pc.session_id);
  EXPECT_EQ(ps.relay_grant, grants[0]);  // the issuer's grant, for this session
  EXPECT_EQ(proto::Bytes(grants[0].begin(), grants[0].end() - 1), ps.session_id);
  r.on_message(c, rv::Message{{1, 2}});
  EXPECT_EQ(std::get<rv::Message>(s.got.at(2)).body, (proto::Bytes{1, 2}));
  r.on_disconnect(c);
  EXPECT_TRUE(std::holds_alternative<rv::PeerLeft>(s.got.back()));
}

TEST_F(RendezvousTest, OneGuessPerNameplate) {
  Recorder s, c1, c2;
  r.on_message(s, rv::Allocate{"5", {}});
  r.on_message(c1, rv::Claim{"5"});
  r.on_message(c2, rv::Claim{"5"});
  EXPECT_EQ(c2.kicked, "code_unknown");
  EXPECT_EQ(r.stats().waiting, 0u);
}

TEST_F(RendezvousTest, ASenderTakesItsNameplateBackOnANewConnection) {
  Recorder old_connection, stranger, fresh, c;
  const proto::Bytes token(proto::rv::kResumeTokenBytes, 7);
  r.on_message(old_connection, rv::Allocate{"31", token});
  // Without the token, or with another, the nameplate is taken.
  r.on_message(stranger, rv::Allocate{"31", {}});
  EXPECT_EQ(stranger.kicked, "code_taken");
  Recorder forger;
  r.on_message(forger, rv::Allocate{"31", proto::Bytes(proto::rv::kResumeTokenBytes, 8)});
  EXPECT_EQ(forger.kicked, "code_taken");
  // Its sender, on a new connection, takes it over; the old connection is closed.
  r.on_message(fresh, rv::Allocate{"31", token});
  EXPECT_EQ(std::get<rv::Allocated>(fresh.got.at(0)).nameplate, "31");
  EXPECT_EQ(old_connection.kicked, "replaced");
  r.on_disconnect(old_connection);  // its leaving frees nothing now
  EXPECT_EQ(r.stats().waiting, 1u);
  r.on_message(c, rv::Claim{"31"});
  EXPECT_TRUE(std::holds_alternative<rv::Paired>(fresh.got.at(1)));
  EXPECT_TRUE(std::holds_alternative<rv::Paired>(c.got.at(0)));
}

TEST_F(RendezvousTest, AReceiverThatComesFirstWaitsForItsSender) {
  Recorder c, s, late;
  r.on_message(c, rv::Claim{"42", true});
  ASSERT_EQ(c.got.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<rv::Waiting>(c.got[0]));
  EXPECT_EQ(r.stats().receivers_waiting, 1u);
  // A random allocation never lands on a nameplate someone waits for.
  for (int i = 0; i < 300; ++i) {
    Recorder other;
    r.on_message(other, rv::Allocate{{}, {}});
    EXPECT_NE(std::get<rv::Allocated>(other.got.at(0)).nameplate, "42");
    r.on_disconnect(other);
  }
  r.on_message(s, rv::Allocate{"42", {}});
  EXPECT_EQ(std::get<rv::Allocated>(s.got.at(0)).nameplate, "42");
  const auto& ps = std::get<rv::Paired>(s.got.at(1));
  const auto& pc = std::get<rv::Paired>(c.got.at(1));
  EXPECT_EQ(ps.session_id, pc.session_id);
  EXPECT_EQ(r.stats().receivers_waiting, 0u);
  EXPECT_EQ(r.stats().waiting, 0u);
  // Still one guess: the nameplate is spent.
  r.on_message(late, rv::Claim{"42"});
  EXPECT_EQ(late.kicked, "code_unknown");
}

TEST_F(RendezvousTest, OneWaitingReceiverPerNameplateAndNoLeaks) {
  Recorder a, b, s;
  r.on_message(a, rv::Claim{"8", true});
  r.on_message(b, rv::Claim{"8", true});
  EXPECT_EQ(b.kicked, "code_taken");
  r.on_disconnect(b);
  r.on_disconnect(a);
  EXPECT_EQ(r.stats().receivers_waiting, 0u);
  // The waiter left: the sender waits for a receiver as usual.
  r.on_message(s, rv::Allocate{"8", {}});
  ASSERT_EQ(s.got.size(), 1u);
  EXPECT_EQ(r.stats().waiting, 1u);
}

TEST_F(RendezvousTest, WaitingReceiversCountAgainstTheLimit) {
  std::vector<std::unique_ptr<Recorder>> clients;
  for (int i = 1; i <= 101; ++i) {
    clients.push_back(std::make_unique<Recorder>());
    r.on_message(*clients.back(), rv::Claim{std::to_string(i), true});
  }
  EXPECT_EQ(clients.back()->kicked, "limit");
  Recorder s;
  r.on_message(s, rv::Allocate{{}, {}});
  EXPECT_EQ(s.kicked, "limit");
}

TEST_F(RendezvousTest, RequestedNameplateInUseIsRefused) {
  Recorder a, b;
  r.on_message(a, rv::Allocate{"9", {}});
  r.on_message(b, rv::Allocate{"9", {}});
  EXPECT_EQ(b.kicked, "code_taken");
}

TEST_F(RendezvousTest, OutOfOrderAndFloodingAreKicked) {
  Recorder early;
  r.on_message(early, rv::Message{{1}});
  EXPECT_EQ(early.kicked, "out_of_order");
  Recorder twice;
  r.on_message(twice, rv::Allocate{{}, {}});
  r.on_message(twice, rv::Allocate{{}, {}});
  EXPECT_EQ(twice.kicked, "out_of_order");
  // (A number the server never picks while it holds so few: `twice` got a random one in
  // 1-100, and when that was 77 the claim below paired with it, 1 run in 30.)
  Recorder s, c;
  r.on_message(s, rv::Allocate{"777", {}});
  r.on_message(c, rv::Claim{"777"});
  for (int i = 0; i < 5; ++i) r.on_message(s, rv::Message{{1}});
  EXPECT_EQ(s.kicked, "limit");
}

TEST_F(RendezvousTest, DisconnectFreesNameplate) {
  Recorder s;
  r.on_message(s, rv::Allocate{"12", {}});
  EXPECT_EQ(r.stats().waiting, 1u);
  r.on_disconnect(s);
  EXPECT_EQ(r.stats().waiting, 0u);
  Recorder c;
  r.on_message(c, rv::Claim{"12"});
  EXPECT_EQ(c.kicked, "code_unknown");
}

// A group send: `ferry send --receivers N`.
rv::Allocate group_allocate(std::string nameplate, std::uint32_t receivers, bool next = false) {
  return rv::Allocate{std::move(nameplate), proto::Bytes(proto::rv::kResumeTokenBytes, 3),
                      receivers, next};
}

template <typename T>
bool last_is(const Recorder& c) {
  return !c.got.empty() && std::holds_alternative<T>(c.got.back());
}

TEST_F(RendezvousTest, AGroupPairsItsReceiversOneAtATime) {
  Recorder s1, s2, s3, c1, c2, c3, c4;
  r.on_message(s1, group_allocate("60", 3));
  ASSERT_TRUE(last_is<rv::Allocated>(s1));
  r.on_message(c1, rv::Claim{"60"});
  EXPECT_TRUE(last_is<rv::Paired>(s1));
  EXPECT_TRUE(last_is<rv::Paired>(c1));
  // While the first pairing is unproven, the second receiver waits in line.
  r.on_message(c2, rv::Claim{"60"});
  ASSERT_TRUE(last_is<rv::Waiting>(c2));
  EXPECT_TRUE(std::get<rv::Waiting>(c2.got.back()).queued);
  EXPECT_EQ(r.stats().waiting, 1u);
  // The sender's next connection (the first code was right) pairs with it at once.
  r.on_message(s2, group_allocate("60", 0, true));
  ASSERT_EQ(s2.got.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<rv::Allocated>(s2.got[0]));
  EXPECT_TRUE(last_is<rv::Paired>(s2));
  EXPECT_TRUE(last_is<rv::Paired>(c2));
  EXPECT_NE(std::get<rv::Paired>(c1.got.back()).session_id,
            std::get<rv::Paired>(c2.got.back()).session_id);
  // Pairs do not cross: each sender connection talks to its own receiver.
  r.on_message(c1, rv::Message{{1}});
  r.on_message(c2, rv::Message{{2}});
  EXPECT_EQ(std::get<rv::Message>(s1.got.back()).body, proto::Bytes{1});
  EXPECT_EQ(std::get<rv::Message>(s2.got.back()).body, proto::Bytes{2});
  // The first transfer's connection closing later changes nothing.
  r.on_disconnect(s1);
  r.on_message(s3, group_allocate("60", 0, true));
  r.on_message(c3, rv::Claim{"60"});
  EXPECT_TRUE(last_is<rv::Paired>(c3));
  // Three receivers were allowed: the code is used up.
  EXPECT_EQ(r.stats().waiting, 0u);
  r.on_message(c4, rv::Claim{"60"});
  EXPECT_EQ(c4.kicked, "code_unknown");
}

TEST_F(RendezvousTest, AGroupEndsForEveryoneWhenAPairingEndsUnproven) {
  Recorder s, guesser, c1, c2;
  r.on_message(s, group_allocate("61", 0));
  r.on_message(guesser, rv::Claim{"61"});
  r.on_message(c1, rv::Claim{"61"});
  r.on_message(c2, rv::Claim{"61"});
  EXPECT_TRUE(last_is<rv::Waiting>(c1));
  // The guess was wrong: the sender closes that connection without asking for the next.
  r.on_disconnect(s);
  EXPECT_EQ(c1.kicked, "code_used");
  EXPECT_EQ(c2.kicked, "code_used");
  r.on_disconnect(c1);
  r.on_disconnect(c2);
  r.on_disconnect(guesser);
  EXPECT_EQ(r.stats().waiting, 0u);
  // And the sender cannot carry on with it.
  Recorder again;
  r.on_message(again, group_allocate("61", 0, true));
  EXPECT_EQ(again.kicked, "code_unknown");
}

TEST_F(RendezvousTest, OnlyTheGroupsSenderAsksForTheNext) {
  Recorder s, c, forger, stranger, not_next;
  r.on_message(s, group_allocate("62", 5));
  r.on_message(c, rv::Claim{"62"});
  // A next needs the sender's token; an ordinary allocate finds the number taken.
  r.on_message(forger, rv::Allocate{"62", proto::Bytes(proto::rv::kResumeTokenBytes, 4), 0, true});
  EXPECT_EQ(forger.kicked, "code_unknown");
  r.on_message(stranger, rv::Allocate{"62", {}});
  EXPECT_EQ(stranger.kicked, "code_taken");
  // A next reaches only a group, never a receiver waiting under a number.
  Recorder waiter;
  r.on_message(waiter, rv::Claim{"63", true});
  r.on_message(not_next, group_allocate("63", 0, true));
  EXPECT_EQ(not_next.kicked, "code_unknown");
  EXPECT_TRUE(last_is<rv::Waiting>(waiter));
  // A next is not a guess at a code; a claim and a chosen number are.
  EXPECT_FALSE(tries_a_code(group_allocate("62", 0, true)));
  EXPECT_TRUE(tries_a_code(group_allocate("62", 0)));
}

TEST_F(RendezvousTest, AGroupsQueueIsBounded) {
  Recorder s, first;
  r.on_message(s, group_allocate("64", 0));
  r.on_message(first, rv::Claim{"64"});
  std::vector<std::unique_ptr<Recorder>> line;
  for (int i = 0; i < 17; ++i) {
    line.push_back(std::make_unique<Recorder>());
    r.on_message(*line.back(), rv::Claim{"64"});
  }
  EXPECT_TRUE(last_is<rv::Waiting>(*line[15]));
  EXPECT_EQ(line[16]->kicked, "limit");
  // One that leaves the line frees its place, and nothing of it stays behind.
  r.on_disconnect(*line[3]);
  Recorder late;
  r.on_message(late, rv::Claim{"64"});
  EXPECT_TRUE(last_is<rv::Waiting>(late));
}

TEST_F(RendezvousTest, AnyNumberOfReceiversIsBoundedByTheServer) {
  Rendezvous small{RendezvousLimits{100, 4, 2, 16}, [](const proto::Bytes& b) { return b; }};
  Recorder s1, s2, c1, c2, c3;
  small.on_message(s1, group_allocate("65", 0));
  small.on_message(c1, rv::Claim{"65"});
  small.on_message(s2, group_allocate("65", 0, true));
  small.on_message(c2, rv::Claim{"65"});
  EXPECT_TRUE(last_is<rv::Paired>(c2));
  small.on_message(c3, rv::Claim{"65"});
  EXPECT_EQ(c3.kicked, "code_unknown");
}

TEST_F(RendezvousTest, ASenderTakingItsGroupBackVouchesForTheLastPairing) {
  // A single send whose transfer broke off: its sender takes the code back (a plain allocate
  // with its token), and the receiver coming back with the code is paired.
  Recorder s1, c1, s2, c2;
  r.on_message(s1, group_allocate("67", 0));
  r.on_message(c1, rv::Claim{"67"});
  r.on_message(c2, rv::Claim{"67"});  // back before its sender noticed the break: in line
  EXPECT_TRUE(last_is<rv::Waiting>(c2));
  r.on_message(s2, group_allocate("67", 0));
  EXPECT_TRUE(last_is<rv::Paired>(c2));
  r.on_disconnect(s1);  // the broken session's connection, let go after: nothing ends
  EXPECT_TRUE(c2.kicked.empty());
  // After a server restart the group is gone: the same allocate makes it anew.
  Rendezvous fresh{RendezvousLimits{}, [](const proto::Bytes& b) { return b; }};
  Recorder s3;
  fresh.on_message(s3, group_allocate("67", 0));
  EXPECT_EQ(std::get<rv::Allocated>(s3.got.at(0)).nameplate, "67");
}

TEST_F(RendezvousTest, AGroupNeedsAToken) {
  Recorder s;
  r.on_message(s, rv::Allocate{"66", {}, 3});
  EXPECT_EQ(s.kicked, "protocol");
}

}  // namespace
}  // namespace ferry::server
