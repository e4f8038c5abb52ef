#include "proto/candidate_scope.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

Candidate tcp(const std::string& a) {
  return {Transport::tcp, a, 4000, CandidateKind::host};
}

TEST(CandidateScope, APublicAddressMustBeWhereTheServerSawThePeer) {
  const CandidateScope scope{"203.0.113.7", "198.51.100.9"};
  EXPECT_TRUE(in_scope(tcp("203.0.113.7"), scope));
  std::string why;
  EXPECT_FALSE(in_scope(tcp("203.0.113.8"), scope, &why));  // a victim next door
  EXPECT_NE(why.find("203.0.113.7"), std::string::npos);
  EXPECT_FALSE(in_scope(tcp("8.8.8.8"), scope));
  EXPECT_FALSE(in_scope(tcp("2001:db8::1"), scope));  // IPv6 of a peer seen over IPv4: unprovable
}

TEST(CandidateScope, PrivateAddressesOnlyWhenBothShareANetwork) {
  const CandidateScope apart{"203.0.113.7", "198.51.100.9"};
  EXPECT_FALSE(in_scope(tcp("192.168.1.1"), apart));  // this side's own router, say
  EXPECT_FALSE(in_scope(tcp("10.0.0.5"), apart));
  EXPECT_FALSE(in_scope(tcp("100.64.0.1"), apart));
  EXPECT_FALSE(in_scope(tcp("169.254.169.254"), apart));  // a cloud metadata service
  EXPECT_FALSE(in_scope(tcp("fe80::1"), apart));
  const CandidateScope together{"203.0.113.7", "203.0.113.7"};
  EXPECT_TRUE(in_scope(tcp("192.168.1.20"), together));
  EXPECT_TRUE(in_scope(tcp("203.0.113.7"), together));
  // A server on the local network sees the peer at its private address.
  EXPECT_TRUE(in_scope(tcp("10.0.0.5"), CandidateScope{"10.0.0.9", "10.0.0.4"}));
}

TEST(CandidateScope, IPv6WithinThePeersSlash64) {
  const CandidateScope scope{"2001:db8:1:2::10", "2001:db8:9::1"};
  EXPECT_TRUE(in_scope(tcp("2001:db8:1:2:a:b:c:d"), scope));  // a temporary address
  EXPECT_FALSE(in_scope(tcp("2001:db8:1:3::10"), scope));
  EXPECT_FALSE(in_scope(tcp("203.0.113.7"), scope));
  // IPv4-mapped forms are IPv4.
  EXPECT_TRUE(in_scope(tcp("::ffff:203.0.113.7"), CandidateScope{"203.0.113.7", "198.51.100.1"}));
}

TEST(CandidateScope, APeerOnThisMachineMayNameAnyAddress) {
  const CandidateScope scope{"127.0.0.1", "127.0.0.1"};
  EXPECT_TRUE(in_scope(tcp("127.0.0.1"), scope));
  EXPECT_TRUE(in_scope(tcp("203.0.113.50"), scope));
}

TEST(CandidateScope, NothingIsTrustedWhenTheServerDidNotSay) {
  EXPECT_FALSE(in_scope(tcp("203.0.113.7"), CandidateScope{"", "198.51.100.9"}));
  EXPECT_FALSE(in_scope(tcp("192.168.1.1"), CandidateScope{"", ""}));
}

TEST(CandidateScope, RestrictingRemovesAndExplains) {
  std::vector<Candidate> list = {tcp("203.0.113.7"), tcp("192.0.2.1"), tcp("10.1.1.1")};
  const auto notes = restrict_to_scope(list, CandidateScope{"203.0.113.7", "198.51.100.9"});
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].address, "203.0.113.7");
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_NE(notes[0].find("192.0.2.1:4000"), std::string::npos);
  EXPECT_NE(notes[0].find("not tried"), std::string::npos);
}

}  // namespace
}  // namespace ferry::proto
