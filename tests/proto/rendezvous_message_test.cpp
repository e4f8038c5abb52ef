#include "proto/rendezvous_message.hpp"

#include "proto/relay_grant.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(RendezvousMessage, ClientRoundTrip) {
  const std::vector<ClientMessage> msgs = {
      rv::Allocate{{}, {}},
      rv::Allocate{"17", {}},
      rv::Allocate{"17", Bytes(16, 7)},
      rv::Claim{"17"},
      rv::Claim{"18", true},
      rv::Message{{1, 2, 3}},
      rv::Allocate{{}, Bytes(16, 7), 0},           // any number of receivers
      rv::Allocate{{}, Bytes(16, 7), 10},          // ten
      rv::Allocate{"17", Bytes(16, 7), 0, true}};  // the group's next
  for (const auto& m : msgs) {
    auto d = decode_client(encode_client(m));
    ASSERT_TRUE(d) << d.error().detail;
    EXPECT_EQ(encode_client(*d), encode_client(m));
  }
}

TEST(RendezvousMessage, ServerRoundTrip) {
  const std::vector<ServerMessage> msgs = {
      rv::Welcome{1, "203.0.113.9", {}}, rv::Welcome{1, "", {4300, 4301}},
      rv::Welcome{1, "", {4300, 4301}, 4302}, rv::Welcome{}, rv::Allocated{"3"},
      rv::Paired{Bytes(16, 1), Bytes(kRelayGrantBytes, 2), "198.51.100.7", "203.0.113.9", ""},
      rv::Paired{Bytes(16, 1), Bytes{}, "", "", ""},  // a server without a relay
      // a cluster's relay on another node
      rv::Paired{Bytes(16, 1), Bytes(kRelayGrantBytes, 2), "", "",
                 "https://relay-2.example.org:8443"},
      rv::Paired{Bytes(16, 1), Bytes(kRelayGrantBytes, 2), "", "",
                 "https://relay-2.example.org:8443", 8445},
      rv::Message{{9}}, rv::PeerLeft{}, rv::Waiting{}, rv::Waiting{true},
      rv::ServerError{"code_unknown", "no such code"}};
  for (const auto& m : msgs) {
    auto d = decode_server(encode_server(m));
    ASSERT_TRUE(d) << d.error().detail;
    EXPECT_EQ(encode_server(*d), encode_server(m));
  }
}

TEST(RendezvousMessage, RejectsGarbage) {
  const std::vector<std::string> bad = {
      "", "null", "[]", "{}", "{\"type\":1}", "{\"type\":\"nope\"}", "{\"type\":\"claim\"}",
      "{\"type\":\"claim\",\"nameplate\":\"abc\"}", "{\"type\":\"claim\",\"nameplate\":\"0123\"}",
      "{\"type\":\"claim\",\"nameplate\":\"1234567890\"}",
      "{\"type\":\"message\",\"body\":\"***\"}", "{\"type\":\"message\"}",
      "{\"type\":\"allocate\",\"receivers\":-1}", "{\"type\":\"allocate\",\"receivers\":100001}",
      "{\"type\":\"allocate\",\"receivers\":\"3\"}", "{\"type\":\"allocate\",\"next\":1}",
      // a next names its group
      "{\"type\":\"allocate\",\"next\":true}", std::string(kMaxRendezvousFrame + 1, ' '),
      "\xff\xfe"};
  for (const auto& b : bad) EXPECT_FALSE(decode_client(b)) << b.substr(0, 60);
}

TEST(RendezvousMessage, APairedRelayMustBeAServerUrl) {
  const std::string head =
      R"({"type":"paired","session":"00112233445566778899aabbccddeeff","relay_grant":"",)";
  EXPECT_TRUE(decode_server(head + R"("relay":"http://198.51.100.3:4300"})"));
  const std::vector<std::string> bad = {
      "1",           "\"\"",           "\"javascript:alert(1)\"",
      "\"ftp://x\"", "\"http://a b\"", "\"http://" + std::string(600, 'a') + "\""};
  for (const auto& relay : bad) {
    EXPECT_FALSE(decode_server(head + R"("relay":)" + relay + "}")) << relay.substr(0, 40);
  }
}

// A hostile server's welcome cannot name a port that is none.
TEST(RendezvousMessage, AWelcomesRelayUdpPortMustBeAPort) {
  const std::string head = R"({"type":"welcome","version":1,)";
  auto ok = decode_server(head + R"("relay_udp":4302})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(std::get<rv::Welcome>(*ok).relay_udp, 4302);
  const std::string paired =
      R"({"type":"paired","session":"00112233445566778899aabbccddeeff","relay_grant":"",)";
  for (const std::string port : {"0", "65536", "-1", "\"4302\"", "4302.5", "null", "[4302]"}) {
    EXPECT_FALSE(decode_server(head + R"("relay_udp":)" + port + "}")) << port;
    EXPECT_FALSE(decode_server(paired + R"("relay_udp":)" + port + "}")) << port;
  }
}

}  // namespace
}  // namespace ferry::proto
