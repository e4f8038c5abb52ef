#include "proto/peer_message.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(PeerMessage, PakeRoundTrip) {
  ReceiverPake r{SecretKind::link, {}};
  r.share.fill(5);
  auto dr = decode_receiver_pake(encode(r));
  ASSERT_TRUE(dr);
  EXPECT_EQ(dr->kind, SecretKind::link);
  EXPECT_EQ(dr->share, r.share);
  SenderPake s{};
  s.confirm.fill(7);
  auto ds = decode_sender_pake(encode(s));
  ASSERT_TRUE(ds);
  EXPECT_EQ(ds->confirm, s.confirm);
  EXPECT_FALSE(decode_receiver_pake(Bytes(10)));
  EXPECT_FALSE(decode_sender_pake(Bytes(65)));
  EXPECT_FALSE(decode_confirm(Bytes(31)));
}

TEST(PeerMessage, NotesRoundTripAndValidate) {
  Candidates c{{{"tcp", "192.0.2.1", 4000, "host"},
                {"tcp", "2001:db8::1", 5, "srflx"},
                {"tcp", "192.0.2.9", 7, "future-kind"},
                {"udp", "192.0.2.1", 4001, "srflx"},
                {"tcp", "198.51.100.7", 4002, "mapped"},
                {"sctp", "192.0.2.1", 4002, "host"}},
               true,
               UdpMapping::dependent,
               Bytes(32, 0x5A)};
  auto d = decode_note(encode_note(c));
  ASSERT_TRUE(d);
  const auto& dc = std::get<Candidates>(*d);
  ASSERT_EQ(dc.list.size(), 4u);  // unknown kinds and transports are skipped
  EXPECT_EQ(dc.list[1].kind, "srflx");
  EXPECT_EQ(dc.list[2].transport, "udp");
  EXPECT_EQ(dc.list[3].kind, "mapped");
  EXPECT_TRUE(dc.relay);
  EXPECT_EQ(dc.udp_mapping, UdpMapping::dependent);
  EXPECT_EQ(dc.quic_fingerprint, Bytes(32, 0x5A));
  EXPECT_FALSE(decode_note(R"({"type":"candidates","candidates":[],"quic_fingerprint":"abcd"})"));
  auto a = decode_note(encode_note(PeerAbort{"no_path", "nothing worked"}));
  ASSERT_TRUE(a);
  EXPECT_EQ(std::get<PeerAbort>(*a).code, "no_path");
  for (const char* bad : {"{}", "{\"type\":\"candidates\"}",
                          "{\"type\":\"candidates\",\"candidates\":[{\"transport\":\"tcp\","
                          "\"address\":\"evil.example\",\"port\":1}]}",
                          "{\"type\":\"candidates\",\"candidates\":[{\"transport\":\"tcp\","
                          "\"address\":\"1.2.3.4\",\"port\":0}]}",
                          "{\"type\":\"abort\"}"}) {
    EXPECT_FALSE(decode_note(bad)) << bad;
  }
}

}  // namespace
}  // namespace ferry::proto
