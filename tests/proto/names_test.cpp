#include "proto/names.hpp"

#include <gtest/gtest.h>

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

// Every entry must be rejected: each would escape the target folder or confuse it.
TEST(Names, RejectsHostileNames) {
  const std::vector<std::string> hostile = {
      "",
      "/etc/passwd",
      "../outside",
      "a/../../outside",
      "a/..",
      "..",
      ".",
      "./a",
      "a//b",
      "a/",
      "C:\\Windows\\system32",
      "C:evil",
      "a\\..\\..\\b",
      std::string("a\0b", 3),
      std::string(256, 'x'),
      std::string(5000, 'a'),
  };
  for (const auto& name : hostile) {
    auto r = split_relative_path(name);
    EXPECT_FALSE(r) << display_name(name);
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
}

}  // namespace
}  // namespace ferry::proto
