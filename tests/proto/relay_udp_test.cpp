#include "proto/relay_udp.hpp"

#include <gtest/gtest.h>

#include "proto/punch.hpp"

namespace ferry::proto {
namespace {

TEST(RelayUdp, BindRoundTripsAndRejectsAnythingElse) {
  RelayBind b;
  b.side = Side::receiver;
  b.grant.fill(0x42);
  b.cookie.fill(0x17);
  const Bytes enc = encode(b);
  ASSERT_EQ(enc.size(), kRelayBindBytes);
  EXPECT_TRUE(is_relay_bind(enc));
  const auto d = decode_relay_bind(enc);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->side, Side::receiver);
  EXPECT_EQ(d->grant, b.grant);
  EXPECT_EQ(d->cookie, b.cookie);
  for (const std::size_t at : {0, 1, 3, 4, 5}) {
    Bytes bad = enc;
    bad[at] ^= 0x20;
    EXPECT_FALSE(decode_relay_bind(bad)) << at;
  }
  EXPECT_FALSE(decode_relay_bind(ByteView(enc).subspan(1)));
  Bytes longer = enc;
  longer.push_back(0);
  EXPECT_FALSE(decode_relay_bind(longer));
  EXPECT_FALSE(is_relay_bind(longer));
}

TEST(RelayUdp, AnUnbindIsABindUnderItsOwnMagic) {
  RelayBind b;
  b.side = Side::sender;
  b.grant.fill(0x42);
  b.unbind = true;
  const Bytes enc = encode(b);
  ASSERT_EQ(enc.size(), kRelayBindBytes);
  EXPECT_EQ(enc[3], 'U');
  EXPECT_TRUE(is_relay_bind(enc));  // never forwarded as a bound side's data
  const auto d = decode_relay_bind(enc);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->unbind);
  EXPECT_EQ(d->side, Side::sender);
  EXPECT_EQ(d->grant, b.grant);
  b.unbind = false;
  EXPECT_FALSE(decode_relay_bind(encode(b))->unbind);
  Bytes other = enc;
  other[3] = 'X';
  EXPECT_FALSE(is_relay_bind(other));
  EXPECT_FALSE(decode_relay_bind(other));
}

TEST(RelayUdp, ALimitAnswerNamesTheLimitAndItsFigure) {
  const RelayAnswer a{RelayStatus::limit, {}, {RelayLimitKind::bytes, 2u << 20}};
  const Bytes enc = encode(a);
  ASSERT_EQ(enc.size(), kRelayAnswerBytes);
  const auto d = decode_relay_answer(enc);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->limit.kind, RelayLimitKind::bytes);
  EXPECT_EQ(d->limit.value, 2u << 20);
  const auto e = relay_answer_error(*d, "198.51.100.10:4302 over QUIC/UDP");
  EXPECT_EQ(e.code, Errc::relay_limit);
  EXPECT_EQ(e.detail,
            "relay at 198.51.100.10:4302 over QUIC/UDP: the relay ended this transfer: it reached "
            "the relay's limit of 2.0 MiB per transfer");
  // The same sentences as the TCP relay's, for each limit.
  EXPECT_NE(relay_limit_text({RelayLimitKind::duration, 30}).find("(30 s per transfer)"),
            std::string::npos);
  EXPECT_NE(relay_limit_text({RelayLimitKind::per_address, 4}).find("(the relay allows 4)"),
            std::string::npos);
  // An older relay's zeros, or a kind from a newer one: the general sentence.
  Bytes older = enc;
  std::fill(older.begin() + 5, older.end(), 0);
  Bytes newer = enc;
  newer[5] = 99;
  for (const auto& b : {older, newer}) {
    const auto o = decode_relay_answer(b);
    ASSERT_TRUE(o);
    EXPECT_EQ(o->limit.kind, RelayLimitKind::unknown);
    EXPECT_EQ(relay_answer_error(*o, "x").detail, "relay at x: the relay is at one of its limits");
  }
  // Other refusals say what they always said.
  EXPECT_EQ(relay_answer_error(RelayAnswer{RelayStatus::expired, {}, {}}, "x").detail,
            "relay at x: " + std::string(relay_status_text(RelayStatus::expired)));
}

TEST(RelayUdp, AnswersAreSmallerThanBindsAndTheClientsSocketTellsThemApart) {
  RelayAnswer a{RelayStatus::challenge, {}, {}};
  a.cookie.fill(9);
  const Bytes enc = encode(a);
  ASSERT_EQ(enc.size(), kRelayAnswerBytes);
  // No amplification: the relay never answers with more than it was sent.
  EXPECT_LT(kRelayAnswerBytes, kRelayBindBytes);
  const auto d = decode_relay_answer(enc);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, RelayStatus::challenge);
  EXPECT_EQ(d->cookie, a.cookie);
  EXPECT_EQ(classify_datagram(enc), DatagramKind::relay);
  Bytes bad = enc;
  bad[2] = 'X';
  EXPECT_FALSE(decode_relay_answer(bad));
  EXPECT_EQ(classify_datagram(bad), DatagramKind::quic);
  EXPECT_FALSE(decode_relay_answer(ByteView(enc).subspan(0, 20)));
  // A bind is no answer, nor the other way round.
  EXPECT_FALSE(decode_relay_answer(encode(RelayBind{})));
  EXPECT_FALSE(decode_relay_bind(enc));
  EXPECT_NE(relay_status_text(RelayStatus::challenge), relay_status_text(RelayStatus::limit));
}

}  // namespace
}  // namespace ferry::proto
