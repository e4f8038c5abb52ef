#include "proto/names.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace ferry::proto {

namespace {
// Length of a valid UTF-8 sequence at s[i] (overlong forms and surrogates refused), or 0; its code
// point in *cp.
std::size_t utf8_at(std::string_view s, std::size_t i, char32_t* cp) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  std::size_t n = 0;
  char32_t v = 0;
  if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
    n = 2;
    v = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    v = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
    n = 4;
    v = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b & 0x3F);
  }
  if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
      (v >= 0xD800 && v <= 0xDFFF)) {
    return 0;
  }
  *cp = v;
  return n;
}

bool is_control(char32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0);
}

// Characters that change how the text around them is shown without showing themselves.
bool is_invisible_or_bidi(char32_t cp) {
  return cp == 0x061C || cp == 0x180E || (cp >= 0x200B && cp <= 0x200F) ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF ||
         (cp >= 0xFFF9 && cp <= 0xFFFB);
}

bool ends_with_part_suffix(std::string_view part) {
  if (part.size() < kPartSuffix.size()) return false;
  const auto tail = part.substr(part.size() - kPartSuffix.size());
  for (std::size_t i = 0; i < kPartSuffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(tail[i])) != kPartSuffix[i]) return false;
  }
  return true;
}

// Escapes one code point (or one bad byte) for a terminal.
void escape_into(std::string& out, std::string_view s, std::size_t i, std::size_t n, char32_t cp) {
  char buf[16];
  if (n == 0 || cp < 0xA0) {
    // Bad bytes and controls byte by byte: C1 as its two bytes, as it was sent.
    for (std::size_t k = 0; k < std::max<std::size_t>(n, 1); ++k) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(s[i + k]));
      out += buf;
    }
  } else {
    std::snprintf(buf, sizeof buf, "\\u{%04x}", static_cast<unsigned>(cp));
    out += buf;
  }
}

std::string escaped(std::string_view s, bool keep_layout) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t n = utf8_at(s, i, &cp);
    const bool layout = keep_layout && n == 1 && (cp == '\n' || cp == '\t');
    if (!layout &&
        (n == 0 || is_control(cp) || is_invisible_or_bidi(cp) || (!keep_layout && cp == '\\'))) {
      escape_into(out, s, i, n, cp);
      i += std::max<std::size_t>(n, 1);
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}
}  // namespace

Result<std::vector<std::string>> split_relative_path(std::string_view path) {
  const auto bad = [&](std::string_view why) {
    return fail(Errc::bad_offer, "the offered name \"" + display_name(path.substr(0, 300)) + "\" " +
                                     std::string(why));
  };
  if (path.empty()) return bad("is empty");
  if (path.size() > kMaxPathBytes) return bad("is too long");
  if (path.front() == '/') return bad("is an absolute path");
  if (path.size() >= 2 && path[1] == ':') return bad("looks like a drive letter path");
  for (std::size_t i = 0; i < path.size();) {
    char32_t cp = 0;
    const std::size_t n = utf8_at(path, i, &cp);
    if (n == 0) return bad("is not valid UTF-8");
    if (cp == 0) return bad("contains a NUL byte");
    if (cp == '\\') return bad("contains a backslash");
    if (is_control(cp)) return bad("contains a control character");
    if (is_invisible_or_bidi(cp)) return bad("contains an invisible or text-direction character");
    i += n;
  }
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    const auto slash = path.find('/', start);
    const auto part = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return bad("has an empty path component");
    if (part == "." || part == "..") return bad("tries to leave its folder (. or ..)");
    if (part.size() > kMaxComponentBytes) return bad("has a component longer than 255 bytes");
    if (ends_with_part_suffix(part)) {
      return bad("ends in .ferry-part, the name of files still being received");
    }
    parts.emplace_back(part);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return parts;
}

std::string display_name(std::string_view name) {
  return escaped(name, false);
}

std::string terminal_text(std::string_view text) {
  return escaped(text, true);
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

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  const auto bad = [&] {
    return fail(Errc::usage, "\"" + display_name(text.substr(0, 40)) +
                                 "\" is not a duration (say 90s, 10m, 2h or 1d)");
  };
  std::size_t digits = 0;
  std::uint64_t n = 0;
  while (digits < text.size() && digits < 9 && text[digits] >= '0' && text[digits] <= '9') {
    n = n * 10 + static_cast<std::uint64_t>(text[digits] - '0');
    ++digits;
  }
  if (digits == 0) return bad();
  const std::string_view unit = text.substr(digits);
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "s") {
    scale = 1;
  } else if (unit == "m" || unit == "min") {
    scale = 60;
  } else if (unit == "h") {
    scale = 3600;
  } else if (unit == "d") {
    scale = 86400;
  } else {
    return bad();
  }
  constexpr std::uint64_t kMost = std::uint64_t{30} * 86400;
  if (n * scale > kMost) return fail(Errc::usage, "a duration of at most 30 days (30d)");
  if (n == 0) return fail(Errc::usage, "a duration longer than 0");
  return std::chrono::seconds(static_cast<std::int64_t>(n * scale));
}

}  // namespace ferry::proto
