#include "proto/names.hpp"

#include <cstdio>

namespace ferry::proto {

Result<std::vector<std::string>> split_relative_path(std::string_view path) {
  const auto bad = [&](std::string_view why) {
    return fail(Errc::bad_offer, "the offered name \"" + display_name(path.substr(0, 300)) + "\" " +
                                     std::string(why));
  };
  if (path.empty()) return bad("is empty");
  if (path.size() > kMaxPathBytes) return bad("is too long");
  if (path.front() == '/') return bad("is an absolute path");
  if (path.size() >= 2 && path[1] == ':') return bad("looks like a drive letter path");
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const auto part = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return bad("has an empty path component");
    if (part == "." || part == "..") return bad("tries to leave its folder (. or ..)");
    if (part.size() > kMaxComponentBytes) return bad("has a component longer than 255 bytes");
    for (char c : part) {
      if (c == '\0') return bad("contains a NUL byte");
      if (c == '\\') return bad("contains a backslash");
    }
    parts.emplace_back(part);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

namespace {
// Length of a valid UTF-8 sequence at s[i], or 0.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0 && c >= 0xC2)
    n = 2;
  else if ((c & 0xF0) == 0xE0)
    n = 3;
  else if ((c & 0xF8) == 0xF0 && c <= 0xF4)
    n = 4;
  else
    return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  // C1 controls (U+0080..U+009F) are encoded as C2 80..C2 9F.
  if (n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) return 0;
  return n;
}
}  // namespace

std::string display_name(std::string_view name) {
  std::string out;
  for (std::size_t i = 0; i < name.size();) {
    const auto c = static_cast<unsigned char>(name[i]);
    const std::size_t n = utf8_len(name, i);
    if (n == 0 || c < 0x20 || c == 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
      ++i;
    } else {
      out.append(name.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace ferry::proto
