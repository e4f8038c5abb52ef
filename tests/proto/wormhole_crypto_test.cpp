// magic-wormhole's key schedule, boxes and transit lines against its own code's values.
#include "proto/wormhole_crypto.hpp"

#include <gtest/gtest.h>

#include "proto/wormhole_vectors.hpp"

namespace ferry::proto {
namespace {

using test::vector_array;
using test::vector_bytes;
using test::wormhole_vectors;

TEST(WormholeCrypto, HkdfMatchesRfc5869CaseThree) {
  // RFC 5869 A.3: SHA-256, empty salt and info.
  const Bytes ikm(22, 0x0b);
  EXPECT_EQ(to_hex(hkdf_sha256(ikm, {}, 42)),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8");
}

TEST(WormholeCrypto, PhaseKeyAndBoxMatchReference) {
  const auto& v = wormhole_vectors();
  const auto key = vector_array<32>(v["key"]);
  const auto& p = v["phase"];
  const WormholeKey phase =
      wormhole_phase_key(key, p["side"].get<std::string>(), p["phase"].get<std::string>());
  EXPECT_EQ(to_hex(phase), p["key"].get<std::string>());
  const Bytes box = wormhole_seal(phase, as_bytes(p["plaintext"].get<std::string>()),
                                  vector_array<24>(p["nonce"]));
  EXPECT_EQ(to_hex(box), p["box"].get<std::string>());
  auto opened = wormhole_open(phase, box);
  ASSERT_TRUE(opened);
  EXPECT_EQ(std::string(opened->begin(), opened->end()), p["plaintext"].get<std::string>());
  Bytes tampered = box;
  tampered.back() ^= 1;
  EXPECT_EQ(wormhole_open(phase, tampered).error().code, Errc::wrong_code);
  EXPECT_FALSE(wormhole_open(phase, ByteView(box).first(30)));
  EXPECT_EQ(to_hex(wormhole_derive_key(key, as_bytes("wormhole:verifier"))),
            v["verifier"].get<std::string>());
}

TEST(WormholeCrypto, TransitLinesAndRecordsMatchReference) {
  const auto& v = wormhole_vectors();
  const WormholeKey transit = wormhole_transit_key(vector_array<32>(v["key"]));
  EXPECT_EQ(to_hex(transit), v["transit_key"].get<std::string>());
  EXPECT_EQ(transit_sender_handshake(transit), v["sender_handshake"].get<std::string>());
  EXPECT_EQ(transit_receiver_handshake(transit), v["receiver_handshake"].get<std::string>());
  EXPECT_EQ(transit_relay_handshake(transit, "00112233445566aa"),
            v["relay_handshake"].get<std::string>());

  // The sender's second record, as the reference sealed it.
  TransitRecords sender(transit, TransitRole::sender);
  TransitRecords receiver(transit, TransitRole::receiver);
  const Bytes first = sender.seal(as_bytes("first"));
  const Bytes second = sender.seal(as_bytes("hello"));
  EXPECT_EQ(to_hex(ByteView(second).subspan(4)), v["record"]["sealed"].get<std::string>());
  EXPECT_EQ(read_u32(second.data()), second.size() - 4);
  // Out of order, then in order.
  EXPECT_FALSE(receiver.open(ByteView(second).subspan(4)));
  ASSERT_TRUE(receiver.open(ByteView(first).subspan(4)));
  auto hello = receiver.open(vector_bytes(v["record"]["sealed"]));
  ASSERT_TRUE(hello);
  EXPECT_EQ(std::string(hello->begin(), hello->end()), "hello");
  // The receiver's records open only on the sender's side.
  const Bytes ack = receiver.seal(as_bytes("ack"));
  TransitRecords other_receiver(transit, TransitRole::receiver);
  EXPECT_FALSE(other_receiver.open(ByteView(ack).subspan(4)));
  EXPECT_TRUE(sender.open(ByteView(ack).subspan(4)));
}

}  // namespace
}  // namespace ferry::proto

namespace ferry::proto {
namespace {

TEST(WormholeCrypto, Sha256StreamIsSha256) {
  Sha256Stream empty;
  EXPECT_EQ(empty.hex_digest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256Stream abc;
  abc.update(as_bytes("a"));
  abc.update(as_bytes("bc"));
  EXPECT_EQ(abc.hex_digest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace ferry::proto
