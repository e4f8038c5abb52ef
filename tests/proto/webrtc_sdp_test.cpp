#include "proto/webrtc_sdp.hpp"

#include <gtest/gtest.h>

#include "proto/peer_message.hpp"

namespace ferry::proto::webrtc {
namespace {

// Chromium 156's offer for one negotiated data channel, as the receive page sends it.
const std::string kChromiumOffer =
    "v=0\r\n"
    "o=- 6990609699371199124 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS\r\n"
    "m=application 60541 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    "c=IN IP4 127.0.0.1\r\n"
    "a=candidate:2400769406 1 udp 2113937151 33840bd4-d21a-4e46-8c9b-6f7a8f40405a.local 60541 "
    "typ host generation 0 network-cost 999\r\n"
    "a=candidate:2505862349 1 udp 1677729535 198.51.100.7 60541 typ srflx raddr 0.0.0.0 rport 0 "
    "generation 0 network-cost 999\r\n"
    "a=candidate:3 1 tcp 1518280447 198.51.100.7 9 typ host tcptype active\r\n"
    "a=ice-ufrag:OqWT\r\n"
    "a=ice-pwd:w9C40kiTS0IQD4DZ1ItO2+Fr\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 "
    "69:76:50:67:84:58:7F:C7:0F:7B:91:E7:BE:62:98:30:67:7D:84:DD:C7:B1:8C:67:D7:F7:E6:78:C2:72:27:"
    "72"
    "\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sctp-port:5000\r\n"
    "a=max-message-size:262144\r\n";

TEST(WebRtcSdp, ParsesChromiumsOffer) {
  auto d = parse_description(kChromiumOffer);
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_EQ(d->ufrag, "OqWT");
  EXPECT_EQ(d->pwd, "w9C40kiTS0IQD4DZ1ItO2+Fr");
  EXPECT_EQ(d->fingerprint[0], 0x69);
  EXPECT_EQ(d->fingerprint[31], 0x72);
  EXPECT_EQ(d->setup, Setup::actpass);
  EXPECT_EQ(d->mid, "0");
  EXPECT_EQ(d->sctp_port, 5000);
  EXPECT_EQ(d->max_message_size, 262144U);
  ASSERT_EQ(d->candidates.size(), 2U);  // the TCP candidate is left out
  EXPECT_EQ(d->candidates[1].address, "198.51.100.7");
  EXPECT_EQ(d->candidates[1].port, 60541);
  EXPECT_EQ(d->candidates[1].type, "srflx");
}

TEST(WebRtcSdp, AnswerCarriesWhatTheBrowserNeedsAndParsesBack) {
  auto offer = parse_description(kChromiumOffer);
  ASSERT_TRUE(offer);
  Description mine = *offer;
  mine.ufrag = "abcd";
  mine.pwd = "0123456789abcdefghijkl";
  mine.setup = Setup::active;
  mine.candidates = {*parse_candidate("candidate:1 1 UDP 2015363327 203.0.113.9 4000 typ host")};
  const std::string answer = format_answer(mine, 42);
  EXPECT_NE(answer.find("a=setup:active\r\n"), std::string::npos);
  EXPECT_NE(answer.find("a=end-of-candidates\r\n"), std::string::npos);
  EXPECT_NE(answer.find("a=fingerprint:sha-256 69:76:"), std::string::npos);
  auto back = parse_description(answer);
  ASSERT_TRUE(back) << back.error().detail;
  EXPECT_EQ(back->fingerprint, offer->fingerprint);
  EXPECT_EQ(back->setup, Setup::active);
  ASSERT_EQ(back->candidates.size(), 1U);
  EXPECT_EQ(back->candidates[0].address, "203.0.113.9");
}

TEST(WebRtcSdp, RefusesWhatCannotBeAnswered) {
  const auto without = [](const std::string& line) {
    std::string s = kChromiumOffer;
    s.erase(s.find(line), s.find("\r\n", s.find(line)) + 2 - s.find(line));
    return s;
  };
  EXPECT_FALSE(parse_description(without("a=fingerprint:")));
  EXPECT_FALSE(parse_description(without("a=ice-pwd:")));
  EXPECT_FALSE(parse_description(without("m=application")));
  std::string sha1 = kChromiumOffer;
  sha1.replace(sha1.find("sha-256"), 7, "sha-1");
  EXPECT_FALSE(parse_description(sha1));  // only SHA-256 is pinned
  std::string bad_pwd = kChromiumOffer;
  bad_pwd.replace(bad_pwd.find("a=ice-pwd:") + 10, 1, "\x1b");
  EXPECT_FALSE(parse_description(bad_pwd));
  EXPECT_FALSE(parse_description(std::string(kMaxDescription + 1, 'a')));
}

TEST(WebRtcSdp, BoundsTheCandidates) {
  std::string s = kChromiumOffer;
  for (std::size_t i = 0; i < kMaxCandidates; ++i) {
    s += "a=candidate:" + std::to_string(i) + " 1 udp 1 198.51.100.7 " + std::to_string(1000 + i) +
         " typ host\r\n";
  }
  const auto r = parse_description(s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("too many candidates"), std::string::npos);
  EXPECT_FALSE(
      parse_description(kChromiumOffer + "a=candidate:1 1 udp 1 198.51.100.7 70000 typ host\r\n"));
}

// The browser's candidates are checked only where the CLI's own would be: its address as the
// server saw it, never a third party a hostile page names.
TEST(WebRtcSdp, ChecksOnlyCandidatesInScope) {
  const CandidateScope scope{.peer_observed = "198.51.100.7", .my_observed = "203.0.113.9"};
  std::string why;
  EXPECT_TRUE(in_scope(*parse_candidate("candidate:1 1 udp 1 198.51.100.7 5 typ srflx"), scope));
  EXPECT_FALSE(
      in_scope(*parse_candidate("candidate:1 1 udp 1 192.0.2.80 5 typ srflx"), scope, &why));
  EXPECT_FALSE(why.empty());
  EXPECT_FALSE(in_scope(*parse_candidate("candidate:1 1 udp 1 10.0.0.5 5 typ host"), scope));
  EXPECT_FALSE(in_scope(*parse_candidate("candidate:1 1 udp 1 a.local 5 typ host"), scope, &why));
  EXPECT_NE(why.find("name"), std::string::npos);
}

TEST(WebRtcSdp, SignalsTravelAsMailboxNotes) {
  const MailboxNote n = WebRtcSignal{kChromiumOffer};
  auto back = decode_note(encode_note(n));
  ASSERT_TRUE(back);
  ASSERT_TRUE(std::holds_alternative<WebRtcSignal>(*back));
  EXPECT_EQ(std::get<WebRtcSignal>(*back).sdp, kChromiumOffer);
  EXPECT_FALSE(decode_note(R"({"type":"webrtc"})"));
  EXPECT_FALSE(
      decode_note(R"({"type":"webrtc","sdp":")" + std::string(kMaxDescription + 1, 'a') + "\"}"));
  // The CLI names the feature (it answers); a page says it offers. A CLI's note never does.
  Candidates c;
  c.features.webrtc = true;
  c.webrtc_offer = true;
  auto note = decode_note(encode_note(MailboxNote{c}));
  ASSERT_TRUE(note);
  EXPECT_TRUE(std::get<Candidates>(*note).features.webrtc);
  EXPECT_TRUE(std::get<Candidates>(*note).webrtc_offer);
  EXPECT_TRUE(our_features().webrtc);
  Candidates cli;
  cli.features = our_features();
  auto plain = decode_note(encode_note(MailboxNote{cli}));
  ASSERT_TRUE(plain);
  EXPECT_FALSE(std::get<Candidates>(*plain).webrtc_offer);
}

}  // namespace
}  // namespace ferry::proto::webrtc
