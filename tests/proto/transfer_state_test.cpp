#include "proto/transfer_state.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

FileHash hash_of(std::string_view s) {
  FileHasher h;
  h.update(as_bytes(s));
  return h.finish();
}

Offer two_files() {
  Offer o;
  o.entries = {{"d", OfferEntry::Kind::directory, 0, false},
               {"d/a", OfferEntry::Kind::file, 5, false},
               {"d/b", OfferEntry::Kind::file, 0, false}};
  return o;
}

TEST(ReceiveTracker, AcceptsInOrderTransfer) {
  const Offer o = two_files();
  ReceiveTracker t(o, {0, 0, 0}, HashScope::whole_file);
  EXPECT_EQ(t.current(), 1u);
  ASSERT_TRUE(t.on_chunk({1, 0, as_bytes("hel")}));
  ASSERT_TRUE(t.on_chunk({1, 3, as_bytes("lo")}));
  ASSERT_TRUE(t.on_file_end({1, hash_of("hello")}));
  ASSERT_TRUE(t.on_file_end({2, hash_of("")}));
  EXPECT_TRUE(t.on_done());
  EXPECT_EQ(t.received_bytes(), 5u);
}

TEST(ReceiveTracker, ResumesFromPrefix) {
  const Offer o = two_files();
  ReceiveTracker t(o, {0, 3, 0}, HashScope::whole_file);
  t.absorb_prefix(1, as_bytes("hel"));
  EXPECT_FALSE(t.on_chunk({1, 0, as_bytes("hel")}));  // must continue at 3
  ASSERT_TRUE(t.on_chunk({1, 3, as_bytes("lo")}));
  EXPECT_TRUE(t.on_file_end({1, hash_of("hello")}));
}

TEST(ReceiveTracker, RejectsOutOfOrderOversizedAndBadHash) {
  const Offer o = two_files();
  {
    ReceiveTracker t(o, {}, HashScope::whole_file);
    EXPECT_FALSE(t.on_chunk({2, 0, as_bytes("x")}));  // wrong file
  }
  {
    ReceiveTracker t(o, {}, HashScope::whole_file);
    EXPECT_FALSE(t.on_chunk({1, 0, as_bytes("toolong")}));  // past offered size
  }
  {
    ReceiveTracker t(o, {}, HashScope::whole_file);
    ASSERT_TRUE(t.on_chunk({1, 0, as_bytes("hello")}));
    auto r = t.on_file_end({1, hash_of("HELLO")});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::integrity);
  }
  {
    ReceiveTracker t(o, {}, HashScope::whole_file);
    ASSERT_TRUE(t.on_chunk({1, 0, as_bytes("hel")}));
    EXPECT_FALSE(t.on_file_end({1, hash_of("hel")}));  // short
  }
  {
    ReceiveTracker t(o, {}, HashScope::whole_file);
    EXPECT_FALSE(t.on_done());  // nothing arrived
  }
}

TEST(ReceiveTracker, PrefixScopeHashesOnlyTheResumedPrefix) {
  const Offer o = two_files();
  // Fresh file: the file end carries the hash of nothing; the bytes themselves are not hashed.
  ReceiveTracker fresh(o, {0, 0, 0}, HashScope::prefix);
  ASSERT_TRUE(fresh.on_chunk({1, 0, as_bytes("hello")}));
  EXPECT_FALSE(fresh.on_file_end({1, hash_of("hello")}));
  ReceiveTracker fresh2(o, {0, 0, 0}, HashScope::prefix);
  ASSERT_TRUE(fresh2.on_chunk({1, 0, as_bytes("hello")}));
  ASSERT_TRUE(fresh2.on_file_end({1, hash_of("")}));
  ASSERT_TRUE(fresh2.on_file_end({2, hash_of("")}));
  EXPECT_TRUE(fresh2.on_done());
  // Resumed: the prefix held here must match the sender's.
  ReceiveTracker resumed(o, {0, 3, 0}, HashScope::prefix);
  resumed.absorb_prefix(1, as_bytes("hel"));
  ASSERT_TRUE(resumed.on_chunk({1, 3, as_bytes("lo")}));
  EXPECT_TRUE(resumed.on_file_end({1, hash_of("hel")}));
  ReceiveTracker stale(o, {0, 3, 0}, HashScope::prefix);
  stale.absorb_prefix(1, as_bytes("HEL"));  // a part file from another version of the file
  ASSERT_TRUE(stale.on_chunk({1, 3, as_bytes("lo")}));
  auto r = stale.on_file_end({1, hash_of("hel")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::integrity);
  // Order and size are checked as in the whole-file scope.
  ReceiveTracker order(o, {}, HashScope::prefix);
  EXPECT_FALSE(order.on_chunk({1, 1, as_bytes("x")}));
  ReceiveTracker size(o, {}, HashScope::prefix);
  EXPECT_FALSE(size.on_chunk({1, 0, as_bytes("toolong")}));
  ReceiveTracker shorter(o, {}, HashScope::prefix);
  ASSERT_TRUE(shorter.on_chunk({1, 0, as_bytes("hel")}));
  EXPECT_FALSE(shorter.on_file_end({1, hash_of("")}));
}

TEST(ReceiveTracker, AStreamHasNoSizeButItsHashDecides) {
  Offer o;
  o.entries = {{"stdin", OfferEntry::Kind::file, 0, false, true}};
  // A resume offset for a stream is ignored: it starts at 0.
  ReceiveTracker t(o, {3}, HashScope::whole_file);
  EXPECT_FALSE(t.on_chunk({0, 3, as_bytes("x")}));
  ReceiveTracker ok(o, {0}, HashScope::whole_file);
  ASSERT_TRUE(ok.on_chunk({0, 0, as_bytes("any ")}));
  ASSERT_TRUE(ok.on_chunk({0, 4, as_bytes("length")}));
  EXPECT_EQ(ok.received_bytes(), 10u);
  ASSERT_TRUE(ok.on_file_end({0, hash_of("any length")}));
  EXPECT_TRUE(ok.on_done());
  ReceiveTracker bad(o, {0}, HashScope::whole_file);
  ASSERT_TRUE(bad.on_chunk({0, 0, as_bytes("truncated")}));
  auto r = bad.on_file_end({0, hash_of("truncated and more")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::integrity);
}

}  // namespace
}  // namespace ferry::proto
