// SPAKE2 (symmetric, Ed25519) against values python-spake2 0.8 computed (wormhole_vectors.py).
#include "proto/wormhole_spake2.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include "proto/wormhole_crypto.hpp"
#include "proto/wormhole_vectors.hpp"

namespace ferry::proto {
namespace {

using test::vector_array;
using test::vector_bytes;
using test::wormhole_vectors;

const ByteView kAppId = as_bytes(kWormholeAppId);

TEST(WormholeSpake2, PasswordScalarMatchesReference) {
  for (const auto& c : wormhole_vectors()["spake2"]) {
    const Ed25519Scalar s = spake2_password_scalar(as_bytes(c["code"].get<std::string>()));
    EXPECT_EQ(to_hex(s), c["password_scalar"].get<std::string>());
  }
}

TEST(WormholeSpake2, MessagesAndKeyMatchReference) {
  for (const auto& c : wormhole_vectors()["spake2"]) {
    const std::string code = c["code"];
    auto a = Spake2Symmetric::start(as_bytes(code), kAppId, vector_array<32>(c["scalar_a"]));
    auto b = Spake2Symmetric::start(as_bytes(code), kAppId, vector_array<32>(c["scalar_b"]));
    ASSERT_TRUE(a && b);
    EXPECT_EQ(to_hex(a->message()), c["msg_a"].get<std::string>());
    EXPECT_EQ(to_hex(b->message()), c["msg_b"].get<std::string>());
    auto ka = a->finish(vector_bytes(c["msg_b"]));
    auto kb = b->finish(vector_bytes(c["msg_a"]));
    ASSERT_TRUE(ka && kb);
    EXPECT_EQ(to_hex(*ka), c["key"].get<std::string>());
    EXPECT_EQ(*ka, *kb);
  }
}

TEST(WormholeSpake2, WrongCodeGivesTheReferencesDifferentKey) {
  const auto& w = wormhole_vectors()["wrong_code"];
  auto a = Spake2Symmetric::start(as_bytes(w["code_a"].get<std::string>()), kAppId,
                                  vector_array<32>(w["scalar_a"]));
  ASSERT_TRUE(a);
  auto k = a->finish(vector_bytes(w["msg_b"]));
  ASSERT_TRUE(k);
  EXPECT_EQ(to_hex(*k), w["key_a"].get<std::string>());
  EXPECT_NE(to_hex(*k), w["key_b"].get<std::string>());
}

TEST(WormholeSpake2, RefusesMalformedReflectedAndLowOrderMessages) {
  Ed25519Scalar s{};
  crypto_core_ed25519_scalar_random(s.data());
  auto a = Spake2Symmetric::start(as_bytes("4-purple-sausages"), kAppId, s);
  ASSERT_TRUE(a);
  // Its own message back.
  EXPECT_FALSE(a->finish(a->message()));
  // The asymmetric sides' tags, a short message, the identity, a low-order point.
  Bytes other(a->message().begin(), a->message().end());
  other[0] = 'A';
  EXPECT_FALSE(a->finish(other));
  EXPECT_FALSE(a->finish(ByteView(a->message()).first(32)));
  Bytes identity(33, 0);
  identity[0] = 'S';
  identity[1] = 1;
  EXPECT_FALSE(a->finish(identity));
  Bytes low_order(33, 0);
  low_order[0] = 'S';  // y = 0: a point of order 4
  EXPECT_FALSE(a->finish(low_order));
  Bytes not_on_curve(33, 0xff);
  not_on_curve[0] = 'S';
  EXPECT_FALSE(a->finish(not_on_curve));
}

}  // namespace
}  // namespace ferry::proto
