#include "server/udp_relay.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ip/address.hpp>

namespace ferry::server {
namespace {

using namespace std::chrono_literals;
using proto::RelayStatus;
using Endpoint = UdpRelayTable::Endpoint;
using Clock = UdpRelayTable::Clock;

const Clock::time_point t0{};
constexpr std::uint64_t kNow = 1'000'000;  // unix seconds

Endpoint at(const char* ip, std::uint16_t port) {
  return {boost::asio::ip::make_address(ip), port};
}

proto::RelayKey key() {
  proto::RelayKey k{};
  k.fill(3);
  return k;
}

proto::Bytes grant(std::uint8_t session = 1, std::uint64_t expires = kNow + 900) {
  proto::RelayGrant g;
  g.session.fill(session);
  g.expires = expires;
  return proto::sign_relay_grant(key(), g);
}

proto::Bytes bind_bytes(proto::Side side, const proto::Bytes& token,
                        proto::RelayCookie cookie = {}) {
  proto::RelayBind b;
  b.side = side;
  std::copy(token.begin(), token.end(), b.grant.begin());
  b.cookie = cookie;
  return proto::encode(b);
}

proto::RelayAnswer answer_of(const UdpRelayTable::Answer& a) {
  auto d = proto::decode_relay_answer(a.bytes);
  EXPECT_TRUE(d);
  return d.value_or(proto::RelayAnswer{});
}

// Binds side from `from` (challenge, then the bind with the cookie); returns the last verdict.
UdpRelayTable::Verdict bind_side(UdpRelayTable& t, proto::Side side, const Endpoint& from,
                                 const proto::Bytes& token, Clock::time_point now = t0,
                                 const std::string& group = "") {
  const std::string g = group.empty() ? from.address().to_string() : group;
  auto v = t.on_datagram(now, kNow, from, g, bind_bytes(side, token));
  EXPECT_EQ(v.answers.size(), 1u);
  if (v.answers.empty()) return v;
  const auto challenge = answer_of(v.answers[0]);
  EXPECT_EQ(challenge.status, RelayStatus::challenge);
  return t.on_datagram(now, kNow, from, g, bind_bytes(side, token, challenge.cookie));
}

const proto::Bytes kQuic{0x43, 1, 2, 3, 4, 5, 6, 7};

TEST(UdpRelay, PairsTwoSidesThatProveTheirAddressesAndForwardsBetweenThem) {
  UdpRelayTable t(RelayLimits{}, key());
  const auto a = at("198.51.100.7", 4000);
  const auto b = at("203.0.113.9", 5000);
  auto v = bind_side(t, proto::Side::sender, a, grant());
  ASSERT_EQ(v.answers.size(), 1u);
  EXPECT_EQ(answer_of(v.answers[0]).status, RelayStatus::waiting);
  EXPECT_EQ(v.answers[0].to, a);
  // Before the peer is bound nothing is forwarded.
  EXPECT_FALSE(t.on_datagram(t0, kNow, a, "a", kQuic).forward_to);
  v = bind_side(t, proto::Side::receiver, b, grant());
  // The receiver hears "paired", and the sender, who waited, too.
  ASSERT_EQ(v.answers.size(), 2u);
  EXPECT_EQ(v.answers[0].to, a);
  EXPECT_EQ(answer_of(v.answers[0]).status, RelayStatus::paired);
  EXPECT_EQ(v.answers[1].to, b);
  EXPECT_EQ(answer_of(v.answers[1]).status, RelayStatus::paired);
  EXPECT_EQ(t.stats().active, 1u);
  EXPECT_EQ(t.stats().bound, 2u);

  v = t.on_datagram(t0, kNow, a, "a", kQuic);
  ASSERT_TRUE(v.forward_to);
  EXPECT_EQ(*v.forward_to, b);
  // What a drain waits for: forwarding lately (QUIC's keep-alives come every 4 s).
  EXPECT_EQ(t.forwarding(t0 + 4s), 1u);
  EXPECT_EQ(t.forwarding(t0 + UdpRelayTable::kBusy), 0u);
  // QUIC may grease its fixed bit away (RFC 9287): whatever is not a bind is forwarded.
  const proto::Bytes greased{0x05, 9, 9, 9};
  v = t.on_datagram(t0, kNow, b, "b", greased);
  ASSERT_TRUE(v.forward_to);
  EXPECT_EQ(*v.forward_to, a);
  EXPECT_EQ(t.stats().bytes, kQuic.size() + greased.size());
  // Nobody else's datagrams go anywhere.
  EXPECT_FALSE(t.on_datagram(t0, kNow, at("198.51.100.8", 4000), "c", kQuic).forward_to);
  EXPECT_TRUE(t.on_datagram(t0, kNow, at("198.51.100.8", 4000), "c", kQuic).answers.empty());
}

TEST(UdpRelay, AnAddressIsBoundOnlyByWhoReceivesAtIt) {
  UdpRelayTable t(RelayLimits{}, key());
  const auto a = at("198.51.100.7", 4000);
  const auto token = grant();
  // No cookie, a made-up cookie, another address's cookie: a challenge each time, nothing bound.
  auto v = t.on_datagram(t0, kNow, a, "a", bind_bytes(proto::Side::sender, token));
  ASSERT_EQ(v.answers.size(), 1u);
  const auto cookie = answer_of(v.answers[0]).cookie;
  proto::RelayCookie made_up{};
  made_up.fill(1);
  v = t.on_datagram(t0, kNow, a, "a", bind_bytes(proto::Side::sender, token, made_up));
  EXPECT_EQ(answer_of(v.answers.at(0)).status, RelayStatus::challenge);
  const auto other = at("198.51.100.7", 4001);
  v = t.on_datagram(t0, kNow, other, "a", bind_bytes(proto::Side::sender, token, cookie));
  EXPECT_EQ(answer_of(v.answers.at(0)).status, RelayStatus::challenge);
  // Nor for the other side of the session.
  v = t.on_datagram(t0, kNow, a, "a", bind_bytes(proto::Side::receiver, token, cookie));
  EXPECT_EQ(answer_of(v.answers.at(0)).status, RelayStatus::challenge);
  EXPECT_EQ(t.stats().bound, 0u);
  // The cookie is good for the next minute too, not later.
  v = t.on_datagram(t0, kNow + 60, a, "a", bind_bytes(proto::Side::sender, token, cookie));
  EXPECT_EQ(answer_of(v.answers.at(0)).status, RelayStatus::waiting);
  UdpRelayTable late(RelayLimits{}, key());
  v = late.on_datagram(t0, kNow, a, "a", bind_bytes(proto::Side::sender, token));
  const auto c2 = answer_of(v.answers.at(0)).cookie;
  v = late.on_datagram(t0, kNow + 180, a, "a", bind_bytes(proto::Side::sender, token, c2));
  EXPECT_EQ(answer_of(v.answers.at(0)).status, RelayStatus::challenge);
}

TEST(UdpRelay, RefusesForgedExpiredAndProbeGrantsAndIgnoresNoise) {
  UdpRelayTable t(RelayLimits{}, key());
  const auto a = at("198.51.100.7", 4000);
  auto forged = grant();
  forged.back() ^= 1;
  auto v = t.on_datagram(t0, kNow, a, "a", bind_bytes(proto::Side::sender, forged));
  EXPECT_EQ(answer_of(v.answers.at(0)).status, RelayStatus::forged);
  v = t.on_datagram(t0, kNow, a, "a", bind_bytes(proto::Side::sender, grant(1, kNow - 1)));
  EXPECT_EQ(answer_of(v.answers.at(0)).status, RelayStatus::expired);
  v = t.on_datagram(t0, kNow, a, "a",
                    bind_bytes(proto::Side::sender, proto::Bytes(proto::kRelayGrantBytes, 0)));
  EXPECT_EQ(answer_of(v.answers.at(0)).status, RelayStatus::forged);
  EXPECT_EQ(t.stats().refused.at("forged"), 1u);
  EXPECT_EQ(t.stats().refused.at("expired"), 1u);
  EXPECT_EQ(t.stats().refused.at("probe"), 1u);
  // Noise from strangers earns nothing: no answer, nothing forwarded.
  for (const auto& noise : {proto::Bytes{}, proto::Bytes(62, 0), proto::Bytes(1400, 0xC0),
                            proto::Bytes{0x00, 'F', 'R', 'B'}}) {
    v = t.on_datagram(t0, kNow, a, "a", noise);
    EXPECT_TRUE(v.answers.empty());
    EXPECT_FALSE(v.forward_to);
  }
}

TEST(UdpRelay, AnswersToOneAddressAreRateLimited) {
  UdpRelayTable t(RelayLimits{}, key());
  const auto a = at("198.51.100.7", 4000);
  auto forged = grant();
  forged.back() ^= 1;
  std::size_t answered = 0;
  for (int i = 0; i < 200; ++i) {
    answered +=
        t.on_datagram(t0, kNow, a, "a", bind_bytes(proto::Side::sender, forged)).answers.size();
  }
  EXPECT_LE(answered, 40u);  // the burst, then nothing within the same instant
  EXPECT_GE(answered, 20u);
}

TEST(UdpRelay, ANewAddressTakesItsSideAndTheOldOneIsForgotten) {
  UdpRelayTable t(RelayLimits{}, key());
  const auto a = at("198.51.100.7", 4000);
  const auto a2 = at("198.51.100.7", 4100);  // the sender's NAT gave it a new port
  const auto b = at("203.0.113.9", 5000);
  bind_side(t, proto::Side::sender, a, grant());
  bind_side(t, proto::Side::receiver, b, grant());
  bind_side(t, proto::Side::sender, a2, grant());
  EXPECT_EQ(t.stats().bound, 2u);
  EXPECT_FALSE(t.on_datagram(t0, kNow, a, "a", kQuic).forward_to);
  const auto v = t.on_datagram(t0, kNow, b, "b", kQuic);
  ASSERT_TRUE(v.forward_to);
  EXPECT_EQ(*v.forward_to, a2);
  EXPECT_EQ(t.stats().active, 1u);
  EXPECT_EQ(t.stats().sessions, 1u);
}

TEST(UdpRelay, LimitsPerAddressRateBytesAndLifetime) {
  RelayLimits limits;
  limits.per_address = 2;
  limits.rate = 1000;  // bytes a second
  limits.max_bytes = 2500;
  limits.max_duration = 60s;
  UdpRelayTable t(limits, key());
  const auto a = at("198.51.100.7", 4000);
  const auto b = at("203.0.113.9", 5000);
  bind_side(t, proto::Side::sender, a, grant(1), t0, "g");
  bind_side(t, proto::Side::receiver, b, grant(1), t0, "h");
  // A third binding from group g's addresses goes over its limit of two.
  bind_side(t, proto::Side::sender, at("198.51.100.7", 4001), grant(2), t0, "g");
  auto v = bind_side(t, proto::Side::receiver, at("198.51.100.7", 4002), grant(2), t0, "g");
  EXPECT_EQ(answer_of(v.answers.at(0)).status, RelayStatus::limit);
  EXPECT_EQ(answer_of(v.answers.at(0)).limit.kind, proto::RelayLimitKind::per_address);
  EXPECT_EQ(answer_of(v.answers.at(0)).limit.value, 2u);
  EXPECT_EQ(t.stats().refused.at("address_limit"), 1u);

  // The rate: 1000 bytes a second; what goes over is dropped, not queued.
  const proto::Bytes big(600, 0x41);
  EXPECT_TRUE(t.on_datagram(t0, kNow, a, "g", big).forward_to);
  EXPECT_FALSE(t.on_datagram(t0, kNow, a, "g", big).forward_to);
  EXPECT_TRUE(t.on_datagram(t0 + 1s, kNow, a, "g", big).forward_to);
  EXPECT_TRUE(t.on_datagram(t0 + 2s, kNow, a, "g", big).forward_to);
  EXPECT_TRUE(t.on_datagram(t0 + 3s, kNow, a, "g", big).forward_to);
  // Past max_bytes the session ends, and both sides are told why.
  v = t.on_datagram(t0 + 4s, kNow, a, "g", big);
  EXPECT_FALSE(v.forward_to);
  ASSERT_EQ(v.answers.size(), 2u);
  for (const auto& told : v.answers) {
    EXPECT_EQ(answer_of(told).status, RelayStatus::limit);
    EXPECT_EQ(answer_of(told).limit.kind, proto::RelayLimitKind::bytes);
    EXPECT_EQ(answer_of(told).limit.value, 2500u);
  }
  EXPECT_EQ(t.stats().ended.at("bytes"), 1u);
  // It stays ended: binding again is refused.
  v = bind_side(t, proto::Side::sender, a, grant(1), t0 + 5s, "g");
  EXPECT_EQ(answer_of(v.answers.at(0)).status, RelayStatus::limit);
  EXPECT_EQ(answer_of(v.answers.at(0)).limit.kind, proto::RelayLimitKind::ended);

  // Lifetime: a session paired at t0 ends at t0 + 60 s.
  UdpRelayTable u(limits, key());
  bind_side(u, proto::Side::sender, a, grant(3));
  bind_side(u, proto::Side::receiver, b, grant(3));
  EXPECT_TRUE(u.sweep(t0 + 59s, kNow).empty());
  const auto told = u.sweep(t0 + 60s, kNow);
  EXPECT_EQ(told.size(), 2u);
  EXPECT_EQ(answer_of(told.at(0)).limit.kind, proto::RelayLimitKind::duration);
  EXPECT_EQ(answer_of(told.at(0)).limit.value, 60u);
  EXPECT_EQ(u.stats().ended.at("duration"), 1u);
  EXPECT_FALSE(u.on_datagram(t0 + 61s, kNow, a, "a", kQuic).forward_to);
}

TEST(UdpRelay, SilentSidesAreUnboundAndForgottenWithTheirGrant) {
  UdpRelayTable t(RelayLimits{}, key());
  const auto a = at("198.51.100.7", 4000);
  const auto b = at("203.0.113.9", 5000);
  bind_side(t, proto::Side::sender, a, grant(1, kNow + 100));
  bind_side(t, proto::Side::receiver, b, grant(1, kNow + 100));
  t.on_datagram(t0 + 50s, kNow, a, "a", kQuic);  // a speaks, b stays silent
  t.sweep(t0 + UdpRelayTable::kIdle, kNow);
  EXPECT_EQ(t.stats().bound, 1u);
  EXPECT_EQ(t.stats().active, 0u);
  EXPECT_FALSE(t.on_datagram(t0 + 61s, kNow, a, "a", kQuic).forward_to);
  t.sweep(t0 + 61s + UdpRelayTable::kIdle, kNow + 200);  // a spoke last at 61 s
  EXPECT_EQ(t.stats().bound, 0u);
  // The grant expired with nobody bound: the session is gone, and its grant is refused.
  const auto v = t.on_datagram(t0 + 200s, kNow + 200, a, "a",
                               bind_bytes(proto::Side::sender, grant(1, kNow + 100)));
  EXPECT_EQ(answer_of(v.answers.at(0)).status, RelayStatus::expired);
}

proto::Bytes unbind_bytes(proto::Side side, const proto::Bytes& token) {
  proto::RelayBind b;
  b.side = side;
  b.unbind = true;
  std::copy(token.begin(), token.end(), b.grant.begin());
  return proto::encode(b);
}

TEST(UdpRelay, AClientUnbindsItsSideWhenDoneAndNobodyElseCan) {
  RelayLimits one;
  one.per_address = 1;
  UdpRelayTable t(one, key());
  const auto a = at("198.51.100.7", 4000);
  const auto b = at("203.0.113.9", 5000);
  bind_side(t, proto::Side::sender, a, grant());
  bind_side(t, proto::Side::receiver, b, grant());
  // From another address, with the wrong side, or with another session's grant: nothing.
  const auto stranger = at("198.51.100.8", 4000);
  for (const auto& [from, d] : {std::pair{stranger, unbind_bytes(proto::Side::sender, grant())},
                                std::pair{a, unbind_bytes(proto::Side::receiver, grant())},
                                std::pair{a, unbind_bytes(proto::Side::sender, grant(2))}}) {
    const auto v = t.on_datagram(t0, kNow, from, from.address().to_string(), d);
    EXPECT_TRUE(v.answers.empty());
    EXPECT_FALSE(v.forward_to);
  }
  proto::Bytes forged = grant();
  forged.back() ^= 1;
  EXPECT_TRUE(t.on_datagram(t0, kNow, a, "198.51.100.7", unbind_bytes(proto::Side::sender, forged))
                  .answers.empty());
  EXPECT_EQ(t.stats().bound, 2u);
  EXPECT_EQ(t.stats().unbound, 0u);
  // The bound sender, after its grant expired (a long transfer): freed at once, never answered,
  // never forwarded.
  const auto v = t.on_datagram(t0 + 20min, kNow + 1200, a, "198.51.100.7",
                               unbind_bytes(proto::Side::sender, grant()));
  EXPECT_TRUE(v.answers.empty());
  EXPECT_FALSE(v.forward_to);
  EXPECT_EQ(t.stats().bound, 1u);
  EXPECT_EQ(t.stats().active, 0u);
  EXPECT_EQ(t.stats().unbound, 1u);
  EXPECT_FALSE(t.on_datagram(t0 + 20min, kNow + 1200, b, "203.0.113.9", kQuic).forward_to);
  // Its address's slot is free again (per_address is 1): another session binds from it.
  const auto again = bind_side(t, proto::Side::sender, a, grant(3, kNow + 2000), t0 + 20min);
  ASSERT_FALSE(again.answers.empty());
  EXPECT_EQ(answer_of(again.answers.back()).status, RelayStatus::waiting);
  // A second unbind (the client sends two) finds nothing.
  t.on_datagram(t0 + 20min, kNow + 1200, b, "203.0.113.9",
                unbind_bytes(proto::Side::receiver, grant()));
  t.on_datagram(t0 + 20min, kNow + 1200, b, "203.0.113.9",
                unbind_bytes(proto::Side::receiver, grant()));
  EXPECT_EQ(t.stats().unbound, 2u);
  EXPECT_EQ(t.stats().bound, 1u);
}

}  // namespace
}  // namespace ferry::server
