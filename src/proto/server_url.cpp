#include "proto/server_url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace ferry::proto {

std::string ServerUrl::host_header() const {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? 443 : 80)) out += ":" + std::to_string(port);
  return out;
}

std::string ServerUrl::to_string() const {
  return (tls ? "https://" : "http://") + host_header() + base_path;
}

Result<HostPort> parse_host_port(std::string_view authority) {
  HostPort out;
  std::string_view port_text;
  bool has_port = false;
  if (authority.starts_with("[")) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail(Errc::usage, "has an unclosed [IPv6] address");
    out.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return fail(Errc::usage, "has junk after the address");
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    const auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
  }
  if (out.host.empty()) return fail(Errc::usage, "has no host name");
  const bool host_ok = std::all_of(out.host.begin(), out.host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
           c == '_';
  });
  if (!host_ok) return fail(Errc::usage, "has characters that cannot be in a host name");
  if (has_port) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return fail(Errc::usage, "has an invalid port");
    }
    out.port = static_cast<std::uint16_t>(port);
  }
  return out;
}

Result<ServerUrl> parse_server_url(std::string_view text) {
  const auto bad = [&](std::string_view why) {
    return fail(Errc::usage, "the server URL \"" + std::string(text.substr(0, 200)) + "\" " +
                                 std::string(why) + "; it should look like http://host:4300");
  };
  ServerUrl u;
  std::string_view rest = text;
  if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else if (rest.starts_with("https://")) {
    u.tls = true;
    rest.remove_prefix(8);
  } else {
    return bad("does not start with http:// or https://");
  }
  if (const auto frag = rest.find_first_of("?#"); frag != std::string_view::npos) {
    rest = rest.substr(0, frag);
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (authority.find('@') != std::string_view::npos) return bad("has credentials in it");
  auto hp = parse_host_port(authority);
  if (!hp) return bad(hp.error().detail);
  u.host = std::move(hp->host);
  u.port = hp->port.value_or(u.tls ? 443 : 80);
  const bool path_ok = std::all_of(path.begin(), path.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '-' || c == '_' ||
           c == '.' || c == '~';
  });
  if (!path_ok) return bad("has an unusual path");
  u.base_path = std::string(path);
  return u;
}

}  // namespace ferry::proto
