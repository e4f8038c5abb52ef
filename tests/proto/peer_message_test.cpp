#include "proto/peer_message.hpp"
#include "proto/record.hpp"

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
  Candidates c{{{Transport::tcp, "192.0.2.1", 4000, CandidateKind::host},
                {Transport::tcp, "2001:db8::1", 5, CandidateKind::srflx},
                {Transport::udp, "192.0.2.1", 4001, CandidateKind::srflx},
                {Transport::tcp, "198.51.100.7", 4002, CandidateKind::mapped}},
               true,
               UdpMapping::dependent,
               Bytes(32, 0x5A),
               Features{}};
  const auto encoded = encode_note(c);
  EXPECT_NE(encoded.find(R"("transport":"udp")"), std::string::npos);  // names at the edge
  EXPECT_NE(encoded.find(R"("kind":"srflx")"), std::string::npos);
  auto d = decode_note(encoded);
  ASSERT_TRUE(d);
  const auto& dc = std::get<Candidates>(*d);
  ASSERT_EQ(dc.list.size(), 4u);
  EXPECT_EQ(dc.list[1].kind, CandidateKind::srflx);
  EXPECT_EQ(dc.list[2].transport, Transport::udp);
  EXPECT_EQ(dc.list[3].kind, CandidateKind::mapped);
  EXPECT_EQ(candidate_text(dc.list[1]), "tcp [2001:db8::1]:5");
  // A newer peer's kinds and transports are skipped, not refused; no kind means "host".
  auto newer =
      decode_note(R"({"type":"candidates","candidates":[)"
                  R"({"transport":"tcp","address":"192.0.2.9","port":7,"kind":"future-kind"},)"
                  R"({"transport":"sctp","address":"192.0.2.1","port":4002,"kind":"host"},)"
                  R"({"transport":"udp","address":"192.0.2.1","port":4003}]})");
  ASSERT_TRUE(newer);
  const auto& nc = std::get<Candidates>(*newer);
  ASSERT_EQ(nc.list.size(), 1u);
  EXPECT_EQ(nc.list[0].port, 4003);
  EXPECT_EQ(nc.list[0].kind, CandidateKind::host);
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

TEST(PeerMessage, FeaturesAreAgreedOnlyWhenBothNameThem) {
  Candidates c;
  c.features = Features{.prefix_hash = true,
                        .aes256gcm = true,
                        .pipe_trial = true,
                        .relay_udp = true,
                        .wide_tcp = true};
  const auto encoded = encode_note(c);
  EXPECT_NE(
      encoded.find(R"("features":["prefix-hash","aes256gcm","pipe-trial","relay-udp","wide-tcp"])"),
      std::string::npos);
  auto d = decode_note(encoded);
  ASSERT_TRUE(d);
  EXPECT_EQ(std::get<Candidates>(*d).features, c.features);
  // AES is offered only where the CPU has it.
  EXPECT_EQ(our_features().aes256gcm, aes256gcm_available());
  EXPECT_TRUE(our_features().prefix_hash);
  EXPECT_TRUE(our_features().pipe_trial);
  EXPECT_TRUE(our_features().relay_udp);
  EXPECT_TRUE(our_features().wide_tcp);
  const Features no_aes{
      .prefix_hash = true, .aes256gcm = false, .pipe_trial = true, .relay_udp = true};
  EXPECT_EQ(common(c.features, no_aes), no_aes);
  // An older peer (or the page) names none: nothing beyond the first protocol is used.
  auto old = decode_note(R"({"type":"candidates","candidates":[],"relay":true})");
  ASSERT_TRUE(old);
  EXPECT_EQ(std::get<Candidates>(*old).features, Features{});
  EXPECT_EQ(common(c.features, std::get<Candidates>(*old).features), Features{});
  EXPECT_EQ(common(c.features, c.features), c.features);
  EXPECT_EQ(encode_note(Candidates{}).find("features"), std::string::npos);
  // Names from newer peers are ignored; a malformed list is refused.
  auto newer = decode_note(
      R"({"type":"candidates","candidates":[],"features":["warp-drive",7,"prefix-hash"]})");
  ASSERT_TRUE(newer);
  EXPECT_TRUE(std::get<Candidates>(*newer).features.prefix_hash);
  EXPECT_FALSE(decode_note(R"({"type":"candidates","candidates":[],"features":"prefix-hash"})"));
  std::string many = R"({"type":"candidates","candidates":[],"features":[)";
  for (int i = 0; i < 40; ++i) many += std::string(i ? "," : "") + "\"x\"";
  EXPECT_FALSE(decode_note(many + "]}"));
}

TEST(PeerMessage, SenderSaysWhetherItsTcpIsLossBased) {
  Candidates c;
  EXPECT_EQ(encode_note(c).find("tcp_loss_based"), std::string::npos);
  c.tcp_loss_based = true;
  auto d = decode_note(encode_note(c));
  ASSERT_TRUE(d);
  EXPECT_TRUE(std::get<Candidates>(*d).tcp_loss_based);
  // Anything but a JSON true is "not said".
  for (const char* v : {"1", "\"yes\"", "null", "false"}) {
    auto odd = decode_note(
        std::string(R"({"type":"candidates","candidates":[],"tcp_loss_based":)") + v + "}");
    ASSERT_TRUE(odd) << v;
    EXPECT_FALSE(std::get<Candidates>(*odd).tcp_loss_based) << v;
  }
}

}  // namespace
}  // namespace ferry::proto
