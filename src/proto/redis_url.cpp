#include "proto/redis_url.hpp"

#include <charconv>

#include "proto/server_url.hpp"

namespace ferry::proto {

namespace {

Result<RedisUrl> bad(std::string_view why) {
  return fail(Errc::usage, "the Redis URL " + std::string(why) +
                               " (expected redis://[:password@]host[:port][/db] or rediss://...)");
}

// %XX escapes in the user-info part (a password may hold ':' or '@').
Result<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    unsigned v = 0;
    if (i + 2 >= s.size()) return fail(Errc::usage);
    const auto r = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
    if (r.ec != std::errc{} || r.ptr != s.data() + i + 3) return fail(Errc::usage);
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

bool printable(std::string_view s) {
  for (const unsigned char c : s) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

}  // namespace

std::string RedisUrl::to_string() const {
  std::string out = tls ? "rediss://" : "redis://";
  if (!username.empty() || !password.empty()) out += "***@";
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  out += ":" + std::to_string(port) + "/" + std::to_string(db);
  return out;
}

Result<RedisUrl> parse_redis_url(std::string_view text) {
  if (text.size() > 2048) return bad("is too long");
  if (!printable(text)) return bad("has spaces or control characters");
  RedisUrl url;
  std::string_view rest;
  if (text.starts_with("redis://")) {
    rest = text.substr(8);
  } else if (text.starts_with("rediss://")) {
    url.tls = true;
    rest = text.substr(9);
  } else {
    return bad("must start with redis:// or rediss://");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view info = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = info.find(':');
    auto user = percent_decode(info.substr(0, colon));
    auto password = percent_decode(colon == std::string_view::npos ? "" : info.substr(colon + 1));
    if (!user || !password) return bad("has a bad %-escape in its user or password");
    if (colon == std::string_view::npos) {
      // redis://secret@host: a lone user-info part is the password (as redis-cli reads it).
      url.password = std::move(*user);
    } else {
      url.username = std::move(*user);
      url.password = std::move(*password);
    }
  }
  auto hp = parse_host_port(authority);
  if (!hp) return bad(hp.error().detail);
  if (hp->host.empty()) return bad("names no host");
  url.host = std::move(hp->host);
  if (hp->port) url.port = *hp->port;
  if (!path.empty()) {
    const auto r = std::from_chars(path.data(), path.data() + path.size(), url.db);
    if (r.ec != std::errc{} || r.ptr != path.data() + path.size() || url.db > 15) {
      return bad("has a database that is not a number from 0 to 15");
    }
  }
  return url;
}

}  // namespace ferry::proto
