#include "proto/names.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "proto/offer.hpp"

namespace ferry::proto {
namespace {

TEST(Names, AcceptsOrdinaryRelativePaths) {
  auto p = split_relative_path("photos/2024/beach.jpg");
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, (std::vector<std::string>{"photos", "2024", "beach.jpg"}));
  EXPECT_TRUE(split_relative_path("ünïcödé file.txt"));
  EXPECT_TRUE(split_relative_path(".hidden"));
  EXPECT_TRUE(split_relative_path("a..b"));
}

// The one table of hostile names, shared with the page's tests (web/test/names.test.js).
nlohmann::json hostile_table() {
  std::ifstream in(std::string(FERRY_TEST_DATA_DIR) + "/hostile_names.json");
  return nlohmann::json::parse(in);
}

std::string name_of(const nlohmann::json& row) {
  if (row.contains("hex")) {
    std::string out;
    const auto hex = row["hex"].get<std::string>();
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
      out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
  }
  if (row.contains("repeat")) {
    std::string out;
    for (int i = 0; i < row["times"].get<int>(); ++i) out += row["repeat"].get<std::string>();
    return out + row.value("suffix", "");
  }
  return row["name"].get<std::string>();
}

TEST(Names, RejectsEveryNameOfTheSharedHostileTable) {
  const auto table = hostile_table();
  ASSERT_GT(table["refused"].size(), 30u);
  for (const auto& row : table["refused"]) {
    const auto name = name_of(row);
    auto r = split_relative_path(name);
    EXPECT_FALSE(r) << display_name(name) << " (" << row["why"].get<std::string>() << ")";
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::bad_offer);
      // The message names the name, escaped: nothing of it reaches a terminal raw.
      EXPECT_EQ(r.error().detail, terminal_text(r.error().detail));
    }
  }
}

TEST(Names, AcceptsEveryOrdinaryNameOfTheSharedTable) {
  const auto table = hostile_table();  // named: a temporary's member dies before the loop body
  for (const auto& row : table["accepted"]) {
    EXPECT_TRUE(split_relative_path(row.get<std::string>())) << row.get<std::string>();
  }
}

TEST(Names, RefusesConflictingOffersOfTheSharedTable) {
  const auto table = hostile_table();
  for (const auto& row : table["offers_refused"]) {
    nlohmann::json offer{{"kind", "files"}, {"entries", row["entries"]}};
    auto r = decode_offer(offer.dump());
    EXPECT_FALSE(r) << row["why"].get<std::string>();
    if (!r) {
      EXPECT_EQ(r.error().code, Errc::bad_offer);
    }
  }
}

TEST(Names, DisplayEscapesControlsAndTerminalSequences) {
  EXPECT_EQ(display_name("plain.txt"), "plain.txt");
  EXPECT_EQ(display_name("bell\x07"), "bell\\x07");
  EXPECT_EQ(display_name("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(display_name("new\nline"), "new\\x0aline");
  EXPECT_EQ(display_name("c1\xc2\x9b"
                         "x"),
            "c1\\xc2\\x9bx");  // C1 CSI
  EXPECT_EQ(display_name("bad\xff"), "bad\\xff");
  EXPECT_EQ(display_name("naïve"), "naïve");
  EXPECT_EQ(display_name("back\\slash"), "back\\x5cslash");
  EXPECT_EQ(display_name("invoice\u202Efdp.exe"), "invoice\\u{202e}fdp.exe");
  EXPECT_EQ(display_name("zw\u200Bj"), "zw\\u{200b}j");
}

TEST(Names, TerminalTextKeepsLayoutAndEscapesTheRest) {
  EXPECT_EQ(terminal_text("line one\nline\ttwo"), "line one\nline\ttwo");
  EXPECT_EQ(terminal_text("\x1b]0;title\x07\x1b[2J\x1b[8m"), "\\x1b]0;title\\x07\\x1b[2J\\x1b[8m");
  EXPECT_EQ(terminal_text("evil\u202Etxt.exe"), "evil\\u{202e}txt.exe");
  EXPECT_EQ(terminal_text("c1\xc2\x9b"), "c1\\xc2\\x9b");
  EXPECT_EQ(terminal_text("cr\rover"), "cr\\x0dover");
  // An escaped name passes unchanged: escaping twice would garble it.
  const auto once = display_name("a\x1b\\b\u202E");
  EXPECT_EQ(terminal_text(once), once);
}

TEST(Names, DurationsAsPeopleTypeThem) {
  EXPECT_EQ(parse_duration("90").value(), std::chrono::seconds(90));
  EXPECT_EQ(parse_duration("90s").value(), std::chrono::seconds(90));
  EXPECT_EQ(parse_duration("10m").value(), std::chrono::minutes(10));
  EXPECT_EQ(parse_duration("10min").value(), std::chrono::minutes(10));
  EXPECT_EQ(parse_duration("2h").value(), std::chrono::hours(2));
  EXPECT_EQ(parse_duration("30d").value(), std::chrono::hours(30 * 24));
  for (const char* bad : {"", "h", "-5m", "5 m", "5x", "31d", "0", "999999999d", "1.5h", "5mm"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
  // What is quoted back is escaped.
  EXPECT_EQ(parse_duration("\x1b[2J").error().detail.find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace ferry::proto
