#include "proto/offer.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(Offer, FilesRoundTrip) {
  Offer o;
  o.entries = {{"photos", OfferEntry::Kind::directory, 0, false},
               {"photos/a.jpg", OfferEntry::Kind::file, 123, false},
               {"run.sh", OfferEntry::Kind::file, 7, true},
               {"empty", OfferEntry::Kind::file, 0, false}};
  auto d = decode_offer(encode_offer(o));
  ASSERT_TRUE(d) << d.error().detail;
  ASSERT_EQ(d->entries.size(), 4u);
  EXPECT_EQ(d->entries[1].path, "photos/a.jpg");
  EXPECT_EQ(d->entries[1].size, 123u);
  EXPECT_TRUE(d->entries[2].executable);
  EXPECT_EQ(d->entries[0].kind, OfferEntry::Kind::directory);
  EXPECT_EQ(d->total_bytes(), 130u);
  EXPECT_EQ(d->file_count(), 3u);
}

TEST(Offer, TextRoundTrip) {
  Offer o;
  o.kind = Offer::Kind::text;
  o.text = "hello\nworld";
  auto d = decode_offer(encode_offer(o));
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, Offer::Kind::text);
  EXPECT_EQ(d->text, o.text);
}

TEST(Offer, RejectsHostileOrMalformedOffers) {
  const std::vector<std::string> bad = {
      "",
      "[]",
      "{\"kind\":\"files\"}",
      "{\"kind\":\"files\",\"entries\":[]}",
      "{\"kind\":\"files\",\"entries\":[{\"path\":\"../x\",\"kind\":\"file\",\"size\":1}]}",
      "{\"kind\":\"files\",\"entries\":[{\"path\":\"/etc/x\",\"kind\":\"file\",\"size\":1}]}",
      "{\"kind\":\"files\",\"entries\":[{\"path\":\"a\",\"kind\":\"file\",\"size\":-1}]}",
      "{\"kind\":\"files\",\"entries\":[{\"path\":\"a\",\"kind\":\"file\"}]}",
      "{\"kind\":\"files\",\"entries\":[{\"path\":\"a\",\"kind\":\"link\",\"size\":1}]}",
      "{\"kind\":\"files\",\"entries\":[{\"path\":\"a\",\"kind\":\"file\",\"size\":1},"
      "{\"path\":\"a\",\"kind\":\"file\",\"size\":1}]}",
      "{\"kind\":\"files\",\"entries\":[{\"path\":\"a\",\"kind\":\"file\",\"size\":1},"
      "{\"path\":\"a/b\",\"kind\":\"file\",\"size\":1}]}",
      "{\"kind\":\"files\",\"entries\":[{\"path\":\"a\",\"kind\":\"file\",\"size\":"
      "9223372036854775807}]}",
      "{\"kind\":\"text\"}",
  };
  for (const auto& b : bad) EXPECT_FALSE(decode_offer(b)) << b;
}

TEST(Offer, StreamedFileRoundTripsWithoutASize) {
  Offer o;
  o.entries = {{"stdin", OfferEntry::Kind::file, 0, false, true}};
  const std::string json = encode_offer(o);
  EXPECT_EQ(json.find("size"), std::string::npos) << json;
  auto d = decode_offer(json);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->entries.at(0).streamed);
  EXPECT_TRUE(d->has_streamed());
  EXPECT_EQ(d->total_bytes(), 0u);
  // Without "stream", a file still needs its size.
  EXPECT_FALSE(decode_offer(R"({"kind":"files","entries":[{"path":"a","kind":"file"}]})"));
  EXPECT_FALSE(
      decode_offer(R"({"kind":"files","entries":[{"path":"a","kind":"file","stream":"yes"}]})"));
}

}  // namespace
}  // namespace ferry::proto
