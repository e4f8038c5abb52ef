#include "proto/pcp.hpp"

#include <gtest/gtest.h>

#include "proto/stun.hpp"

namespace ferry::proto {
namespace {

TEST(Pcp, MapRequestHasRfc6887Layout) {
  PcpMapRequest r;
  r.client_ip = *parse_ip("10.1.0.2");
  r.protocol = kPcpUdp;
  r.internal_port = 0x1234;
  r.suggested_external_port = 0x1234;
  r.lifetime = 3600;
  r.nonce.fill(0xAB);
  const Bytes b = encode_pcp_map(r);
  ASSERT_EQ(b.size(), 60u);
  EXPECT_EQ(b[0], 2);  // version
  EXPECT_EQ(b[1], 1);  // request, MAP
  EXPECT_EQ((Bytes{b.begin() + 4, b.begin() + 8}), (Bytes{0, 0, 0x0E, 0x10}));
  EXPECT_EQ((Bytes{b.begin() + 8, b.begin() + 24}),
            (Bytes{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 10, 1, 0, 2}));
  EXPECT_EQ(b[24], 0xAB);
  EXPECT_EQ(b[36], kPcpUdp);
  EXPECT_EQ(b[40], 0x12);
  EXPECT_EQ(b[41], 0x34);
}

TEST(Pcp, DecodesAMapResponse) {
  Bytes d{2, 0x81, 0, 0};
  append_u32(d, 7200);
  append_u32(d, 99);
  append(d, Bytes(12, 0));
  append(d, Bytes(12, 0x5A));  // nonce
  d.push_back(kPcpTcp);
  append(d, Bytes(3, 0));
  append(d, Bytes{0x9C, 0x40, 0xC3, 0x50});  // internal 40000, external 50000
  append(d, Bytes{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 203, 0, 113, 6});
  const auto r = decode_pcp_map_response(d);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->result, 0);
  EXPECT_EQ(r->lifetime, 7200u);
  EXPECT_EQ(r->internal_port, 40000);
  EXPECT_EQ(r->external_port, 50000);
  EXPECT_EQ(r->external_ip, (Bytes{203, 0, 113, 6}));
  EXPECT_EQ(r->nonce[0], 0x5A);
  d[3] = 2;
  EXPECT_EQ(pcp_result_name(decode_pcp_map_response(d)->result), "NOT_AUTHORIZED");
  EXPECT_FALSE(decode_pcp_map_response(ByteView(d).subspan(0, 59)));
  d[1] = 0x01;  // a request, not a response
  EXPECT_FALSE(decode_pcp_map_response(d));
}

}  // namespace
}  // namespace ferry::proto
