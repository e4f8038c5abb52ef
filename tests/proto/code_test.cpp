#include "proto/code.hpp"

#include <gtest/gtest.h>

#include <set>

namespace ferry::proto {
namespace {

TEST(Code, WordListHas256DistinctSortedWords) {
  const auto& w = code_words();
  EXPECT_EQ(std::set<std::string_view>(w.begin(), w.end()).size(), 256u);
  EXPECT_TRUE(std::is_sorted(w.begin(), w.end()));
}

TEST(Code, ParsesAndNormalises) {
  auto c = parse_code("  7-Tumbler-OXCART \n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->nameplate, "7");
  EXPECT_EQ(c->words, "tumbler-oxcart");
  EXPECT_EQ(format_code(*c), "7-tumbler-oxcart");
  auto spaced = parse_code("7 tumbler oxcart");
  ASSERT_TRUE(spaced);
  EXPECT_EQ(spaced->words, "tumbler-oxcart");
}

TEST(Code, CompletesPrefixesAndAcceptsAnySeparators) {
  auto c = parse_code("7-tumb-oxc");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->words, "tumbler-oxcart");
  for (const char* typed :
       {"7 tumbler oxcart", "7  tumbler\toxcart", "7--tumbler - oxcart-", " 7-TUMBLER oxcart"}) {
    auto t = parse_code(typed);
    ASSERT_TRUE(t) << typed;
    EXPECT_EQ(format_code(*t), "7-tumbler-oxcart") << typed;
  }
}

TEST(Code, AWordOffTheListIsRefusedWithSuggestions) {
  auto r = parse_code("79-bagde-hazel");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::usage);
  EXPECT_NE(r.error().detail.find("\"bagde\" is not one of ferry's code words"), std::string::npos)
      << r.error().detail;
  EXPECT_NE(r.error().detail.find("\"badge\""), std::string::npos) << r.error().detail;
  // A prefix of one word that is one slip from another is not completed: "bage" could be
  // "bagel" or a mistyped "badge".
  auto slip = parse_code("79-bage-hazel");
  ASSERT_FALSE(slip);
  EXPECT_NE(slip.error().detail.find("\"bagel\" or \"badge\""), std::string::npos)
      << slip.error().detail;
  EXPECT_NE(r.error().detail.find("did you mean"), std::string::npos) << r.error().detail;
  EXPECT_NE(r.error().detail.find("still good"), std::string::npos);
  // Swapped letters are one edit.
  auto swapped = similar_words("tumbelr");
  ASSERT_FALSE(swapped.empty());
  EXPECT_EQ(swapped.front(), "tumbler");
  EXPECT_TRUE(similar_words("qqqqqqqq").empty());
}

TEST(Code, AnAmbiguousPrefixIsRefused) {
  auto r = parse_code("7-c-oxcart");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("type more of the word"), std::string::npos) << r.error().detail;
}

TEST(Code, HostileInputIsQuotedSafely) {
  auto r = parse_code("7-\x1b[2Jevil-oxcart");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().detail.find('\x1b'), std::string::npos);
  EXPECT_EQ(display_word("a\x1b"
                         "b\xe2\x80\xae"),
            "a?b???");
}

TEST(Code, RejectsMalformed) {
  for (const char* bad :
       {"", "tumbler-oxcart", "x-tumbler", "7", "7-", "-a-b", "0012-a-b", "1234567890-a-b",
        "7-a\x01"
        "b"}) {
    EXPECT_FALSE(parse_code(bad)) << bad;
  }
}

// A word left out is said before any server sees the code (which a claim would use up), and a
// one-word --code (a guess in 256) is refused for the sender too.
TEST(Code, AMissingWordIsRefusedLocally) {
  const auto r = parse_code("79-badge");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::usage);
  EXPECT_NE(r.error().detail.find("a word is missing"), std::string::npos) << r.error().detail;
  EXPECT_FALSE(parse_code("7-acorn"));
  EXPECT_TRUE(parse_code("7-acorn-acorn"));
}

TEST(Code, ANumberWithLeadingZerosIsNamedAsSuch) {
  for (const char* bad : {"0-acorn-acorn", "007-acorn-acorn"}) {
    const auto r = parse_code(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.error().detail.find("without leading zeros"), std::string::npos)
        << r.error().detail;
  }
}

TEST(Code, PasswordDependsOnKindAndWords) {
  Secret a{"7", SecretKind::words, "a-b", {}};
  Secret b{"7", SecretKind::words, "a-c", {}};
  Secret l{"7", SecretKind::link, {}, Bytes(16, 1)};
  EXPECT_NE(a.password(), b.password());
  EXPECT_NE(a.password(), l.password());
}

TEST(Code, WordsFromBytesCoverTheList) {
  EXPECT_EQ(words_from_bytes(0, 255), "acorn-zephyr");
}

TEST(Link, RoundTrip) {
  const Bytes secret(16, 0xab);
  const std::string link = format_link("http://example.org:4300/", "42", secret);
  EXPECT_EQ(link.substr(0, 30), "http://example.org:4300/r#42-q");
  auto parsed = parse_link(link);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->server_url, "http://example.org:4300");
  EXPECT_EQ(parsed->secret.nameplate, "42");
  EXPECT_EQ(parsed->secret.kind, SecretKind::link);
  EXPECT_EQ(parsed->secret.link_secret, secret);
  EXPECT_TRUE(looks_like_link(link));
  EXPECT_FALSE(looks_like_link("42-acorn-zebra"));
}

TEST(Link, RejectsDamagedLinks) {
  for (const char* bad : {"http://h/r#", "http://h/x#4-AAAAAAAAAAAAAAAAAAAAAA",
                          "http://h/r#4-short", "http://h/r#x-AAAAAAAAAAAAAAAAAAAAAA",
                          "http://h/r#4-AAAAAAAAAAAAAAAAAAAAA!", "http://h/r"}) {
    EXPECT_FALSE(parse_link(bad)) << bad;
  }
}

TEST(Code, CompletesUniquePrefixes) {
  EXPECT_EQ(complete_word("tumb"), std::vector<std::string_view>{"tumbler"});
  EXPECT_EQ(complete_word("zeb").size(), 1u);
  EXPECT_GT(complete_word("c").size(), 10u);
  EXPECT_TRUE(complete_word("qqq").empty());
}

}  // namespace
}  // namespace ferry::proto
