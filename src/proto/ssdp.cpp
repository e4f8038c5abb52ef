#include "proto/ssdp.hpp"

#include <algorithm>
#include <cctype>

namespace ferry::proto {

std::string ssdp_search(std::string_view type, int mx) {
  return "M-SEARCH * HTTP/1.1\r\nHOST: " + std::string(kSsdpAddress) + ":" +
         std::to_string(kSsdpPort) + "\r\nST: " + std::string(type) +
         "\r\nMAN: \"ssdp:discover\"\r\nMX: " + std::to_string(mx) + "\r\n\r\n";
}

std::optional<std::string> ssdp_location(std::string_view answer) {
  constexpr std::string_view kName = "location:";
  while (!answer.empty()) {
    const auto end = answer.find("\r\n");
    std::string_view line = answer.substr(0, end);
    answer = end == std::string_view::npos ? std::string_view() : answer.substr(end + 2);
    if (line.size() < kName.size() ||
        !std::equal(kName.begin(), kName.end(), line.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      continue;
    }
    line.remove_prefix(kName.size());
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    const bool printable = std::all_of(line.begin(), line.end(), [](char c) {
      return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
    });
    if (line.rfind("http://", 0) != 0 || line.size() <= 7 || line.size() > 1024 || !printable) {
      return std::nullopt;
    }
    return std::string(line);
  }
  return std::nullopt;
}

std::string ssdp_location_host(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return "";
  url.remove_prefix(kScheme.size());
  url = url.substr(0, url.find_first_of("/?#"));
  if (url.find('@') != std::string_view::npos) return "";  // no user info
  if (!url.empty() && url.front() == '[') {
    const auto close = url.find(']');
    return close == std::string_view::npos ? "" : std::string(url.substr(1, close - 1));
  }
  return std::string(url.substr(0, url.find(':')));
}

}  // namespace ferry::proto
