#include "proto/proxy_url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "proto/bytes.hpp"
#include "proto/server_url.hpp"

namespace ferry::proto {

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && p == s.data() + i + 3) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}
}  // namespace

std::string ProxyUrl::authorization() const {
  if (user.empty() && password.empty()) return {};
  return "Basic " + to_base64(as_bytes(user + ":" + password));
}

std::string ProxyUrl::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  const std::string_view prefix = scheme == ProxyScheme::socks5    ? "socks5://"
                                  : scheme == ProxyScheme::socks5h ? "socks5h://"
                                                                   : "http://";
  return std::string(prefix) + (user.empty() ? "" : user + "@") + (v6 ? "[" + host + "]" : host) +
         ":" + std::to_string(port);
}

namespace {
// A scheme as typed, shown only when it is a plain one (letters, digits, + - .), never raw.
std::string display_scheme(std::string_view scheme) {
  const bool plain =
      !scheme.empty() && scheme.size() <= 16 &&
      std::all_of(scheme.begin(), scheme.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
      });
  return plain ? std::string(scheme) : std::string("these");
}
}  // namespace

Result<ProxyUrl> parse_proxy_url(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return fail(Errc::usage, "the proxy setting is not usable (" + std::string(why) +
                                 "); it should look like http://user:password@proxy:3128");
  };
  ProxyUrl u;
  std::string_view rest = text;
  u.port = 3128;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
    u.port = 80;
  } else if (rest.starts_with("socks5://") || rest.starts_with("socks5h://")) {
    u.scheme = rest.starts_with("socks5h://") ? ProxyScheme::socks5h : ProxyScheme::socks5;
    rest.remove_prefix(u.scheme == ProxyScheme::socks5h ? 10 : 9);
    u.port = 1080;
  } else if (rest.starts_with("https://")) {
    return bad("TLS to the proxy itself is not supported");
  } else if (const auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    // (Only the scheme is repeated: the rest may hold a password.)
    return bad(display_scheme(rest.substr(0, scheme)) +
               ":// proxies are not supported, only http://, socks5:// and socks5h://");
  }
  rest = rest.substr(0, rest.find('/'));
  if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
    const auto creds = rest.substr(0, at);
    const auto colon = creds.find(':');
    u.user = percent_decode(creds.substr(0, colon));
    if (colon != std::string_view::npos) u.password = percent_decode(creds.substr(colon + 1));
    rest = rest.substr(at + 1);
  }
  auto hp = parse_host_port(rest);
  if (!hp) return bad(hp.error().detail);
  u.host = std::move(hp->host);
  if (hp->port) u.port = *hp->port;
  return u;
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host_in) {
  const std::string host = lower(host_in);
  std::size_t start = 0;
  while (start <= no_proxy.size()) {
    const auto comma = no_proxy.find(',', start);
    std::string entry = lower(no_proxy.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    start = comma == std::string_view::npos ? no_proxy.size() + 1 : comma + 1;
    entry.erase(0, entry.find_first_not_of(" \t"));
    entry.erase(entry.find_last_not_of(" \t") + 1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    if (entry.front() != '[' && std::count(entry.begin(), entry.end(), ':') == 1) {
      entry = entry.substr(0, entry.find(':'));  // "host:port"
    }
    if (entry.front() == '.') entry.erase(0, 1);
    if (host == entry) return true;
    if (host.size() > entry.size() && host.ends_with(entry) &&
        host[host.size() - entry.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

}  // namespace ferry::proto
