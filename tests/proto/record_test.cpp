#include "proto/record.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

Key key(std::uint8_t v) {
  Key k{};
  k.fill(v);
  return k;
}

// Seals messages into one wire byte string.
Bytes seal_all(const Key& k, const std::vector<std::string>& msgs) {
  Bytes wire(kRecordHeaderBytes);
  RecordSealer sealer(k, wire.data());
  for (std::size_t i = 0; i < msgs.size(); ++i)
    sealer.seal(as_bytes(msgs[i]), i + 1 == msgs.size(), wire);
  return wire;
}

TEST(Record, RoundTripInArbitraryFragments) {
  const std::vector<std::string> msgs = {"hello", std::string(100000, 'x'), "", "last"};
  const Bytes wire = seal_all(key(1), msgs);
  for (std::size_t step : {1u, 7u, 4096u, 1u << 20}) {
    RecordParser parser(key(1));
    std::vector<std::string> got;
    bool final = false;
    for (std::size_t pos = 0; pos < wire.size(); pos += step) {
      parser.feed(ByteView(wire).subspan(pos, std::min(step, wire.size() - pos)));
      Bytes out;
      for (;;) {
        auto r = parser.next(out, final);
        ASSERT_TRUE(r) << r.error().detail;
        if (!*r) break;
        got.emplace_back(out.begin(), out.end());
      }
    }
    EXPECT_EQ(got, msgs);
    EXPECT_TRUE(final);
  }
}

TEST(Record, TamperedByteIsRejected) {
  Bytes wire = seal_all(key(2), {"attack at dawn"});
  wire[kRecordHeaderBytes + kRecordLengthBytes + 3] ^= 1;
  RecordParser parser(key(2));
  parser.feed(wire);
  Bytes out;
  bool final = false;
  EXPECT_FALSE(parser.next(out, final));
}

TEST(Record, WrongKeyIsRejected) {
  const Bytes wire = seal_all(key(3), {"secret"});
  RecordParser parser(key(4));
  parser.feed(wire);
  Bytes out;
  bool final = false;
  EXPECT_FALSE(parser.next(out, final));
}

TEST(Record, ReorderedRecordsAreRejected) {
  Bytes wire(kRecordHeaderBytes);
  RecordSealer sealer(key(5), wire.data());
  Bytes first, second;
  sealer.seal(as_bytes("one"), false, first);
  sealer.seal(as_bytes("two"), false, second);
  append(wire, second);
  append(wire, first);
  RecordParser parser(key(5));
  parser.feed(wire);
  Bytes out;
  bool final = false;
  EXPECT_FALSE(parser.next(out, final));
}

TEST(Record, TruncationIsVisibleAsMissingFinal) {
  // Drop the final record: everything before it opens, but the stream never ends properly.
  Bytes wire(kRecordHeaderBytes);
  RecordSealer sealer(key(6), wire.data());
  sealer.seal(as_bytes("one"), false, wire);
  const std::size_t cut = wire.size();
  sealer.seal(as_bytes("two"), true, wire);
  wire.resize(cut + 2);  // and a torn length prefix
  RecordParser parser(key(6));
  parser.feed(wire);
  Bytes out;
  bool final = true;
  ASSERT_TRUE(*parser.next(out, final));
  EXPECT_FALSE(final);
  EXPECT_FALSE(*parser.next(out, final));  // needs more: the caller sees EOF before the final tag
}

TEST(Record, RecordAfterFinalIsRejected) {
  Bytes wire(kRecordHeaderBytes);
  RecordSealer sealer(key(7), wire.data());
  sealer.seal(as_bytes("end"), true, wire);
  sealer.seal(as_bytes("more"), false, wire);
  RecordParser parser(key(7));
  parser.feed(wire);
  Bytes out;
  bool final = false;
  ASSERT_TRUE(*parser.next(out, final));
  EXPECT_TRUE(final);
  EXPECT_FALSE(parser.next(out, final));
}

TEST(Record, OversizedLengthIsRejectedBeforeBuffering) {
  Bytes wire(kRecordHeaderBytes);
  RecordSealer sealer(key(8), wire.data());
  append_u32(wire, 0x7fffffff);
  RecordParser parser(key(8));
  parser.feed(wire);
  Bytes out;
  bool final = false;
  EXPECT_FALSE(parser.next(out, final));
}

}  // namespace
}  // namespace ferry::proto
