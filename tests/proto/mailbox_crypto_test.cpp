#include "proto/mailbox_crypto.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(MailboxCrypto, RoundTripAndOrder) {
  Key k{};
  k.fill(3);
  MailboxSealer s(k);
  MailboxOpener o(k);
  const Bytes a = s.seal(as_bytes("first"));
  const Bytes b = s.seal(as_bytes("second"));
  EXPECT_FALSE(o.open(b));  // out of order
  auto pa = o.open(a);
  ASSERT_TRUE(pa);
  EXPECT_EQ(std::string(pa->begin(), pa->end()), "first");
  EXPECT_FALSE(o.open(a));  // replay
  EXPECT_TRUE(o.open(b));
}

TEST(MailboxCrypto, RejectsTamperAndShortInput) {
  Key k{};
  MailboxSealer s(k);
  MailboxOpener o(k);
  Bytes a = s.seal(as_bytes("x"));
  a.back() ^= 1;
  EXPECT_FALSE(o.open(a));
  EXPECT_FALSE(o.open(Bytes(3)));
}

}  // namespace
}  // namespace ferry::proto
