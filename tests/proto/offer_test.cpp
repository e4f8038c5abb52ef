#include "proto/offer.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

namespace ferry::proto {
namespace {

#if !defined(__SANITIZE_ADDRESS__)
// The data segment this process uses now (VmData), in bytes.
std::size_t data_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  std::size_t kb = 0;
  while (status >> key) {
    if (key == "VmData:" && status >> kb) return kb * 1024;
  }
  return 0;
}
#endif

TEST(Offer, AHugeOfferOfEmptyEntriesIsRefusedWhileItIsParsed) {
  // 15.7 MiB of "{}," (five million entries): once the whole tree was built (~610 MB) before
  // the entries were counted. Now the parse stops at the limit.
  std::string text = R"({"kind":"files","entries":[)";
  const std::size_t n = (std::size_t{157} << 20) / 10 / 3;
  text.reserve(text.size() + 3 * n + 2);
  for (std::size_t i = 0; i < n; ++i) text += "{},";
  text.back() = ']';
  text += '}';
#if !defined(__SANITIZE_ADDRESS__)
  // In a child whose data may grow by 96 MiB at most (ASan's own allocator counts differently).
  const std::size_t limit = data_bytes() + (std::size_t{96} << 20);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const rlimit r{limit, limit};
    ::setrlimit(RLIMIT_DATA, &r);
    const auto decoded = decode_offer(text);
    _exit(!decoded && decoded.error().code == Errc::bad_offer ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the parse ran out of 96 MiB (status " << status << ")";
#endif
  const auto decoded = decode_offer(text);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().code, Errc::bad_offer);
  EXPECT_NE(decoded.error().detail.find("too many entries"), std::string::npos);
}

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

TEST(Offer, ModificationTimesRoundTripAndAreOptional) {
  Offer o;
  o.entries = {{"photos", OfferEntry::Kind::directory, 0, false},
               {"photos/a.jpg", OfferEntry::Kind::file, 3, false},
               {"b", OfferEntry::Kind::file, 1, false}};
  o.entries[0].mtime = 1700000000;
  o.entries[1].mtime = 0;
  auto d = decode_offer(encode_offer(o));
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_EQ(d->entries[0].mtime, 1700000000);
  EXPECT_EQ(d->entries[1].mtime, 0);
  EXPECT_FALSE(d->entries[2].mtime);  // an offer from a sender that does not say
}

TEST(Offer, AModificationTimeThatIsNoTimeIsRefused) {
  for (const std::string t :
       {"-1", "253402300800", "18446744073709551615", "1.5", "\"1\"", "true", "null"}) {
    const std::string json =
        R"({"kind":"files","entries":[{"path":"a","kind":"file","size":1,"mtime":)" + t + "}]}";
    EXPECT_FALSE(decode_offer(json)) << t;
  }
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
