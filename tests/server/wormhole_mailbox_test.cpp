// ferry serve's magic-wormhole mailbox, driven frame by frame with recording peers.
#include "server/wormhole_mailbox.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace ferry::server {
namespace {

using nlohmann::json;

struct Peer : MailboxPeer {
  std::vector<json> got;
  void deliver(std::string frame) override { got.push_back(json::parse(frame)); }
  // The frames of this type, oldest first.
  std::vector<json> of(const std::string& type) const {
    std::vector<json> out;
    for (const auto& j : got)
      if (j["type"] == type) out.push_back(j);
    return out;
  }
  json last() const { return got.back(); }
};

struct MailboxTest : ::testing::Test {
  WormholeMailbox mailbox{WormholeMailboxLimits{}};
  bool send(Peer& p, const json& j) { return mailbox.on_frame(p, j.dump(), 1.5); }
  void bind(Peer& p, const std::string& side, const std::string& app = "app") {
    mailbox.on_connect(p);
    send(p, {{"type", "bind"}, {"appid", app}, {"side", side}});
  }
};

TEST_F(MailboxTest, WelcomesAcksAndWantsABindFirst) {
  Peer p;
  mailbox.on_connect(p);
  EXPECT_EQ(p.got.at(0)["type"], "welcome");
  send(p, {{"type", "allocate"}, {"id", "x1"}});
  EXPECT_EQ(p.of("ack").at(0)["id"], "x1");
  EXPECT_EQ(p.last()["error"], "must bind first");
  EXPECT_EQ(p.last()["orig"]["type"], "allocate");
  EXPECT_FALSE(mailbox.bound(p));
}

TEST_F(MailboxTest, ATransferFromAllocateToClose) {
  Peer a, b;
  bind(a, "aaaa");
  bind(b, "bbbb");
  send(a, {{"type", "allocate"}});
  const std::string nameplate = a.of("allocated").at(0)["nameplate"];
  send(a, {{"type", "claim"}, {"nameplate", nameplate}});
  const std::string box = a.of("claimed").at(0)["mailbox"];
  send(a, {{"type", "open"}, {"mailbox", box}});
  send(a, {{"type", "add"}, {"phase", "pake"}, {"body", "aa"}});
  // The writer hears its own message; the late receiver gets it replayed on open.
  ASSERT_EQ(a.of("message").size(), 1u);
  EXPECT_EQ(a.of("message")[0]["side"], "aaaa");
  send(b, {{"type", "claim"}, {"nameplate", nameplate}});
  EXPECT_EQ(b.of("claimed").at(0)["mailbox"], box);
  send(b, {{"type", "open"}, {"mailbox", box}});
  ASSERT_EQ(b.of("message").size(), 1u);
  EXPECT_EQ(b.of("message")[0]["body"], "aa");
  send(b, {{"type", "add"}, {"phase", "pake"}, {"body", "bb"}});
  EXPECT_EQ(a.of("message").size(), 2u);
  EXPECT_EQ(mailbox.stats().nameplates, 1u);
  send(a, {{"type", "release"}});
  send(b, {{"type", "release"}, {"nameplate", nameplate}});
  EXPECT_EQ(a.of("released").size(), 1u);
  EXPECT_EQ(mailbox.stats().nameplates, 0u);  // both released
  send(a, {{"type", "close"}, {"mood", "happy"}});
  EXPECT_EQ(mailbox.stats().mailboxes, 1u);
  send(b, {{"type", "close"}, {"mailbox", box}, {"mood", "happy"}});
  EXPECT_EQ(b.of("closed").size(), 1u);
  EXPECT_EQ(mailbox.stats().mailboxes, 0u);
  EXPECT_EQ(mailbox.stats().messages, 2u);
}

TEST_F(MailboxTest, AThirdSideIsCrowdedOutAndAReleasedSideCannotReclaim) {
  Peer a, b, c;
  bind(a, "a");
  bind(b, "b");
  bind(c, "c");
  for (Peer* p : {&a, &b, &c}) send(*p, {{"type", "claim"}, {"nameplate", "7"}});
  EXPECT_EQ(c.last()["error"], "crowded");
  const std::string box = a.of("claimed").at(0)["mailbox"];
  // Nor can it open the pair's mailbox by its id.
  Peer d;
  bind(d, "d");
  send(d, {{"type", "open"}, {"mailbox", box}});
  EXPECT_EQ(d.last()["error"], "crowded");
  send(a, {{"type", "release"}});
  Peer a2;
  bind(a2, "a");
  send(a2, {{"type", "claim"}, {"nameplate", "7"}});
  EXPECT_EQ(a2.last()["error"], "reclaimed");
}

TEST_F(MailboxTest, ApplicationsAreSeparate) {
  Peer a, b;
  bind(a, "a", "app-one");
  bind(b, "b", "app-two");
  send(a, {{"type", "claim"}, {"nameplate", "3"}});
  send(b, {{"type", "claim"}, {"nameplate", "3"}});
  EXPECT_NE(a.of("claimed").at(0)["mailbox"], b.of("claimed").at(0)["mailbox"]);
}

TEST_F(MailboxTest, EverythingAClientHeldGoesWhenItDisconnects) {
  Peer a;
  bind(a, "a");
  send(a, {{"type", "allocate"}});
  send(a, {{"type", "claim"}, {"nameplate", a.of("allocated").at(0)["nameplate"]}});
  send(a, {{"type", "open"}, {"mailbox", a.of("claimed").at(0)["mailbox"]}});
  EXPECT_EQ(mailbox.stats().clients, 1u);
  mailbox.on_disconnect(a);
  EXPECT_EQ(mailbox.stats().clients, 0u);
  EXPECT_EQ(mailbox.stats().nameplates, 0u);
  EXPECT_EQ(mailbox.stats().mailboxes, 0u);
}

TEST_F(MailboxTest, AConnectionHoldsOneNameplateAndOneMailbox) {
  // Found by the wormhole_mailbox fuzz target: each of these once left state behind.
  Peer a;
  bind(a, "a");
  send(a, {{"type", "claim"}, {"nameplate", "1"}});
  send(a, {{"type", "allocate"}});
  EXPECT_EQ(a.last()["error"], "allocate must come before claim");
  Peer b;
  bind(b, "b");
  send(b, {{"type", "open"}, {"mailbox", "somewhere"}});
  send(b, {{"type", "claim"}, {"nameplate", "2"}});
  EXPECT_EQ(b.last()["error"], "one mailbox per connection");
  Peer c;
  bind(c, "c");
  send(c, {{"type", "allocate"}});
  send(c, {{"type", "claim"}, {"nameplate", "not-the-one"}});
  EXPECT_EQ(c.last()["error"], "claim must name the nameplate this connection allocated");
  for (Peer* p : {&a, &b, &c}) mailbox.on_disconnect(*p);
  EXPECT_EQ(mailbox.stats().nameplates, 0u);
  EXPECT_EQ(mailbox.stats().mailboxes, 0u);
}

TEST_F(MailboxTest, LimitsAndHostileFrames) {
  WormholeMailbox small{
      {.max_nameplates = 1, .max_mailboxes = 2, .max_messages = 2, .max_errors = 3}};
  Peer a, b;
  small.on_connect(a);
  small.on_frame(a, json{{"type", "bind"}, {"appid", "x"}, {"side", "a"}}.dump(), 0);
  small.on_frame(a, json{{"type", "claim"}, {"nameplate", "1"}}.dump(), 0);
  small.on_frame(a, json{{"type", "open"}, {"mailbox", a.of("claimed").at(0)["mailbox"]}}.dump(),
                 0);
  for (int i = 0; i < 3; ++i)
    small.on_frame(a, json{{"type", "add"}, {"phase", "0"}, {"body", "00"}}.dump(), 0);
  EXPECT_EQ(a.last()["error"], "too many messages");
  small.on_connect(b);
  small.on_frame(b, json{{"type", "bind"}, {"appid", "x"}, {"side", "b"}}.dump(), 0);
  small.on_frame(b, json{{"type", "allocate"}}.dump(), 0);
  EXPECT_EQ(b.last()["error"], "too many nameplates");
  // Malformed frames are answered, then the connection is closed.
  Peer h;
  small.on_connect(h);
  EXPECT_TRUE(small.on_frame(h, "not json", 0));
  EXPECT_TRUE(small.on_frame(h, R"({"type":"bind","appid":5,"side":"s"})", 0));
  EXPECT_FALSE(small.on_frame(h, R"({"type":"teleport"})", 0));
  // The list of live codes is never given out.
  Peer l;
  bind(l, "l");
  send(l, {{"type", "claim"}, {"nameplate", "9"}});
  send(l, {{"type", "list"}});
  EXPECT_TRUE(l.of("nameplates").at(0)["nameplates"].empty());
  send(l, {{"type", "ping"}, {"ping", 4}});
  EXPECT_EQ(l.last()["pong"], 4);
}

}  // namespace
}  // namespace ferry::server
