// HTTP CONNECT proxies as users configure them: https_proxy-style URLs (with optional Basic
// credentials) and no_proxy lists. Pure parsing and matching; reading the environment is net/'s.
#pragma once

#include <cstdint>
#include <string>

#include "proto/error.hpp"

namespace ferry::proto {

// http://: CONNECT; socks5://: SOCKS5, names resolved here; socks5h://: the proxy resolves them.
enum class ProxyScheme : std::uint8_t { http, socks5, socks5h };

struct ProxyUrl {
  ProxyScheme scheme = ProxyScheme::http;
  std::string host;
  std::uint16_t port = 0;
  std::string user;  // percent-decoded
  std::string password;

  // "Proxy-Authorization: Basic ..." value, or empty without credentials.
  std::string authorization() const;
  std::string to_string() const;  // without the password
};

// "http://[user:pass@]host[:port][/]" or "host:port" (port 3128 for bare hosts, 80 for http://),
// or "socks5://…" / "socks5h://…" (port 1080), as curl reads them. Others (https://, TLS to the
// proxy itself; socks4) are refused with a sentence saying why.
Result<ProxyUrl> parse_proxy_url(std::string_view text);

// Whether a no_proxy value exempts host: "*", exact names, ".suffix" or "suffix" domain matches,
// IP literals; ports in entries are ignored.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

}  // namespace ferry::proto
