// The STUN codec against RFC 5769's test vectors, and round trips of what ferry sends.
#include "proto/stun.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

Bytes hex(std::string_view h) {
  std::string s;
  for (const char c : h) {
    if (c != ' ' && c != '\n') s.push_back(c);
  }
  return *from_hex(s);
}

// RFC 5769 2.1: sample request (short-term credentials, ICE attributes).
const Bytes kSampleRequest =
    hex("000100582112a442b7e7a701bc34d686fa87dfae802200105354554e2074657374"
        "20636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576"
        "746a3a683676592020200008001 49aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2"
        "80280004e57a3bcf");
// 2.2: IPv4 response; 2.3: IPv6 response.
const Bytes kIpv4Response =
    hex("010100 3c2112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f"
        "7220002000080001a147e112a643000800142b91f599fd9e90c38c7489f92af9ba53"
        "f06be7d780280004c07d4c96");
const Bytes kIpv6Response =
    hex("010100482112a442b7e7a701bc34d686fa87dfae8022000b7465737420766563746f"
        "72200020001400 02a1470113a9faa5d3f179bc25f4b5bed2b9d900080014a382954e"
        "4be67bf11784c97c8292c275bfe3ed4180280004c8fb0b4c");
// 2.4: request with long-term credentials.
const Bytes kLongTermRequest =
    hex("000100602112a44278ad3433c6ad72c029da412e00060012e3839ee38388e383aae3"
        "8383e382afe382b900000015001c662f2f3439396b39353464364f4c33346f4c3946"
        "5354767936347341001400 0b6578616d706c652e6f726700000800 14f67024656dd6"
        "4a3e02b8e0712e85c9a28ca89666");
const std::string kPassword = "VOkJxbRl1RmTxUk/WvJxBt";

TEST(Stun, Rfc5769SampleRequest) {
  auto m = decode_stun(kSampleRequest);
  ASSERT_TRUE(m) << m.error().detail;
  EXPECT_EQ(m->type, kStunBindingRequest);
  EXPECT_FALSE(m->classic);
  EXPECT_EQ(m->software, "STUN test client");
  EXPECT_EQ(m->username, "evtj:h6vY");
  EXPECT_EQ(m->unknown_required, std::vector<std::uint16_t>{0x0024});  // ICE's PRIORITY
  EXPECT_TRUE(m->has_fingerprint);
  EXPECT_TRUE(m->fingerprint_ok);
  EXPECT_TRUE(check_message_integrity(kSampleRequest, *m, as_bytes(kPassword)));
  EXPECT_FALSE(check_message_integrity(kSampleRequest, *m, as_bytes("wrong")));
}

TEST(Stun, Rfc5769Ipv4AndIpv6Responses) {
  auto v4 = decode_stun(kIpv4Response);
  ASSERT_TRUE(v4) << v4.error().detail;
  EXPECT_EQ(v4->type, kStunBindingSuccess);
  ASSERT_TRUE(v4->mapped);
  EXPECT_EQ(v4->mapped->to_string(), "192.0.2.1:32853");
  EXPECT_EQ(v4->software, "test vector");
  EXPECT_TRUE(v4->fingerprint_ok);
  EXPECT_TRUE(check_message_integrity(kIpv4Response, *v4, as_bytes(kPassword)));

  auto v6 = decode_stun(kIpv6Response);
  ASSERT_TRUE(v6) << v6.error().detail;
  ASSERT_TRUE(v6->mapped);
  EXPECT_EQ(v6->mapped->to_string(), "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
  EXPECT_TRUE(v6->fingerprint_ok);
  EXPECT_TRUE(check_message_integrity(kIpv6Response, *v6, as_bytes(kPassword)));
}

TEST(Stun, Rfc5769LongTermCredentials) {
  auto m = decode_stun(kLongTermRequest);
  ASSERT_TRUE(m) << m.error().detail;
  EXPECT_FALSE(m->has_fingerprint);
  // "マトリックス" and the password after SASLprep.
  const auto key =
      long_term_key("\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9",
                    "example.org", "TheMatrIX");
  EXPECT_TRUE(check_message_integrity(kLongTermRequest, *m, key));
}

TEST(Stun, AnyFlippedBitBreaksTheFingerprintOrTheMessage) {
  for (std::size_t i = 0; i < kIpv4Response.size(); ++i) {
    Bytes bad = kIpv4Response;
    bad[i] ^= 0x04;
    auto m = decode_stun(bad);
    if (m) {
      EXPECT_FALSE(m->fingerprint_ok && check_message_integrity(bad, *m, as_bytes(kPassword))) << i;
    }
  }
}

TEST(Stun, RequestAndResponseRoundTrip) {
  const StunTransactionId id{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const Bytes req = encode_binding_request(id, kStunChangePort);
  auto r = decode_stun(req);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, kStunBindingRequest);
  EXPECT_EQ(r->transaction, id);
  EXPECT_EQ(r->change_request, kStunChangePort);
  EXPECT_TRUE(r->fingerprint_ok);

  BindingResponse resp;
  resp.transaction = id;
  resp.mapped = IpPort{*parse_ip("203.0.113.7"), 40000};
  resp.response_origin = IpPort{*parse_ip("198.51.100.10"), 3478};
  resp.other_address = IpPort{*parse_ip("2001:db8::1"), 3479};
  const Bytes wire = encode_binding_response(resp);
  auto d = decode_stun(wire);
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_EQ(d->type, kStunBindingSuccess);
  EXPECT_EQ(d->mapped, resp.mapped);
  EXPECT_EQ(d->response_origin, resp.response_origin);
  EXPECT_EQ(d->other_address, resp.other_address);
  EXPECT_TRUE(d->fingerprint_ok);
  EXPECT_EQ(d->software, "ferry");

  const Bytes err = encode_binding_error(id, 420, "cannot change address");
  auto e = decode_stun(err);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->type, kStunBindingError);
  EXPECT_EQ(e->error_code, 420);
}

TEST(Stun, ClassicRfc3489RequestGetsAClassicAnswer) {
  // A classic request: no cookie, 16-byte id, CHANGE-REQUEST(change port).
  Bytes req = hex("000100080102030405060708090a0b0c0d0e0f10000300040000000 2");
  auto m = decode_stun(req);
  ASSERT_TRUE(m) << m.error().detail;
  EXPECT_TRUE(m->classic);
  EXPECT_EQ(m->change_request, kStunChangePort);
  BindingResponse resp;
  resp.transaction = m->transaction;
  resp.classic = true;
  resp.classic_id_prefix = m->classic_id_prefix;
  resp.mapped = IpPort{*parse_ip("203.0.113.7"), 40000};
  resp.other_address = IpPort{*parse_ip("198.51.100.11"), 3479};
  const Bytes wire = encode_binding_response(resp);
  EXPECT_TRUE(std::equal(req.begin() + 4, req.begin() + 20, wire.begin() + 4));  // same id
  auto d = decode_stun(wire);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->mapped, resp.mapped);
  EXPECT_EQ(d->other_address, resp.other_address);
}

TEST(Stun, RejectsGarbage) {
  EXPECT_FALSE(decode_stun({}));
  EXPECT_FALSE(decode_stun(Bytes(20, 0xff)));                                  // top bits set
  EXPECT_FALSE(decode_stun(hex("0001000c2112a442000000000000000000000000")));  // length lies
  // An attribute running past the end.
  EXPECT_FALSE(decode_stun(hex("000100042112a442000000000000000000000000 80220010")));
  // An unknown comprehension-required attribute is reported, not fatal (the server answers 420).
  auto u = decode_stun(hex("000100082112a442000000000000000000000000 7fff000400000000"));
  ASSERT_TRUE(u);
  EXPECT_EQ(u->unknown_required, std::vector<std::uint16_t>{0x7fff});
  EXPECT_FALSE(looks_like_stun(hex("c0000000")));
}

}  // namespace
}  // namespace ferry::proto
