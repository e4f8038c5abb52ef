// CPace against draft-irtf-cfrg-cpace-13, appendix B.3 (ristretto255, SHA-512).
#include "proto/cpace.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

namespace ferry::proto {
namespace {

Bytes hex(std::string_view s) {
  std::string clean;
  for (char c : s)
    if (c != ' ' && c != '\n') clean += c;
  return *from_hex(clean);
}

template <std::size_t N>
std::array<std::uint8_t, N> arr(std::string_view s) {
  const Bytes b = hex(s);
  std::array<std::uint8_t, N> a{};
  std::copy(b.begin(), b.end(), a.begin());
  return a;
}

CpaceScalar random_scalar() {
  CpaceScalar s{};
  crypto_core_ristretto255_scalar_random(s.data());
  return s;
}

const Bytes kPrs = Bytes{'P', 'a', 's', 's', 'w', 'o', 'r', 'd'};
const Bytes kCi = hex("6f630b425f726573706f6e6465720b415f696e69746961746f72");
const Bytes kSid = hex("7e4b4791d6a8ef019b936c79fb7f2c57");
const Bytes kAdA = {'A', 'D', 'a'};
const Bytes kAdB = {'A', 'D', 'b'};
const auto kYa = arr<32>("da3d23700a9e5699258aef94dc060dfda5ebb61f02a5ea77fad53f4ff0976d08");
const auto kYb = arr<32>("d2316b454718c35362d83d69df6320f38578ed5984651435e2949762d900b80d");

TEST(Cpace, GeneratorStringMatchesDraft) {
  const Bytes expected =
      hex("11435061636552697374726574746f3235350850617373776f726464"
          "00000000000000000000000000000000000000000000000000000000"
          "00000000000000000000000000000000000000000000000000000000"
          "00000000000000000000000000000000000000000000000000000000"
          "000000000000000000000000000000001a6f630b425f726573706f6e"
          "6465720b415f696e69746961746f72107e4b4791d6a8ef019b936c79"
          "fb7f2c57");
  EXPECT_EQ(cpace_generator_string(kPrs, kCi, kSid), expected);
}

TEST(Cpace, GeneratorMatchesDraft) {
  auto g = cpace_generator(kPrs, kCi, kSid);
  ASSERT_TRUE(g);
  EXPECT_EQ(to_hex(*g), "a6fc82c3b8968fbb2e06fee81ca858586dea50d248f0c7ca6a18b0902a30b36b");
}

TEST(Cpace, SharesKAndIskMatchDraft) {
  auto a = Cpace::start(Cpace::Role::initiator, kPrs, kCi, kSid, kAdA, kYa);
  auto b = Cpace::start(Cpace::Role::responder, kPrs, kCi, kSid, kAdB, kYb);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(to_hex(a->share()), "d40fb265a7abeaee7939d91a585fe59f7053f982c296ec413c624c669308f87a");
  EXPECT_EQ(to_hex(b->share()), "08bcf6e9777a9c313a3db6daa510f2d398403319c2341bd506a92e672eb7e307");
  auto isk_a = a->finish(b->share(), kAdB);
  auto isk_b = b->finish(a->share(), kAdA);
  ASSERT_TRUE(isk_a && isk_b);
  const std::string expected =
      "4c5469a16b2364c4b944ebc1a79e51d1674ad47db26e8718154f59faebfaa52d"
      "8346f30aa58377117eb20d527f2cbc5c76381f7fd372e89df8239f87f2e02ed1";
  EXPECT_EQ(to_hex(*isk_a), expected);
  EXPECT_EQ(to_hex(*isk_b), expected);
}

TEST(Cpace, DifferentPasswordsGiveDifferentKeys) {
  const Bytes other = {'p', 'a', 's', 's'};
  auto a = Cpace::start(Cpace::Role::initiator, kPrs, kCi, kSid, kAdA, random_scalar());
  auto b = Cpace::start(Cpace::Role::responder, other, kCi, kSid, kAdB, random_scalar());
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a->finish(b->share(), kAdB), *b->finish(a->share(), kAdA));
}

TEST(Cpace, RandomScalarsAgreeWithSamePassword) {
  auto a = Cpace::start(Cpace::Role::initiator, kPrs, kCi, kSid, kAdA, random_scalar());
  auto b = Cpace::start(Cpace::Role::responder, kPrs, kCi, kSid, kAdB, random_scalar());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a->finish(b->share(), kAdB), *b->finish(a->share(), kAdA));
}

TEST(Cpace, RejectsIdentityAndInvalidPoints) {
  auto a = Cpace::start(Cpace::Role::initiator, kPrs, kCi, kSid, kAdA, kYa);
  ASSERT_TRUE(a);
  CpacePoint identity{};
  EXPECT_EQ(a->finish(identity, kAdB).error().code, Errc::protocol);
  CpacePoint junk{};
  junk.fill(0xff);
  EXPECT_EQ(a->finish(junk, kAdB).error().code, Errc::protocol);
}

}  // namespace
}  // namespace ferry::proto
