#include "server/server_log.hpp"

#include <gtest/gtest.h>

namespace ferry::server {
namespace {

TEST(ServerLog, TextEscapesWhatClientsSent) {
  const std::string line = format_log_fields(
      LogFormat::text, "refused",
      {{"reason", "cross_origin"}, {"client", "127.0.0.2"}, {"detail", "http://evil\x1b]0;x\a"}});
  EXPECT_EQ(
      line,
      "refused reason=cross_origin client=127.0.0.2 detail=\"http://evil\\u001b]0;x\\u0007\"");
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
}

TEST(ServerLog, JsonFieldsAreValidJsonEvenForBadUtf8) {
  const std::string body = format_log_fields(
      LogFormat::json, "relay_end", {{"bytes", 1234}, {"seconds", 1.5}, {"detail", "\xff\xfe"}});
  const auto parsed = nlohmann::json::parse("{" + body + "}");
  EXPECT_EQ(parsed["event"], "relay_end");
  EXPECT_EQ(parsed["bytes"], 1234);
  EXPECT_EQ(parsed["seconds"], 1.5);
  EXPECT_TRUE(parsed["detail"].is_string());
}

}  // namespace
}  // namespace ferry::server
