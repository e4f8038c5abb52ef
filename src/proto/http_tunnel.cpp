#include "proto/http_tunnel.hpp"

#include <algorithm>
#include <charconv>

namespace ferry::proto {

bool valid_tunnel_token(std::string_view t) {
  return t.size() == 32 && std::all_of(t.begin(), t.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::optional<TunnelTarget> parse_tunnel_target(std::string_view target) {
  constexpr std::string_view kPrefix = "/v1/tunnel/";
  if (!target.starts_with(kPrefix)) return std::nullopt;
  target.remove_prefix(kPrefix.size());
  TunnelTarget t;
  const auto query = target.find('?');
  if (query != std::string_view::npos) {
    if (target.substr(query) != "?fin") return std::nullopt;
    t.fin = true;
    target = target.substr(0, query);
  }
  const auto slash = target.find('/');
  if (slash == std::string_view::npos || !valid_tunnel_token(target.substr(0, slash))) {
    return std::nullopt;
  }
  t.token = std::string(target.substr(0, slash));
  target.remove_prefix(slash + 1);
  if (target.starts_with("up/")) {
    t.direction = TunnelDirection::up;
    target.remove_prefix(3);
  } else if (target.starts_with("down/")) {
    t.direction = TunnelDirection::down;
    target.remove_prefix(5);
  } else {
    return std::nullopt;
  }
  if (t.fin && t.direction != TunnelDirection::up) return std::nullopt;
  // Decimal, no sign, no leading zeros beyond "0", at most 19 digits.
  if (target.empty() || target.size() > 19 || (target.size() > 1 && target[0] == '0')) {
    return std::nullopt;
  }
  const auto [end, ec] = std::from_chars(target.data(), target.data() + target.size(), t.offset);
  if (ec != std::errc() || end != target.data() + target.size()) return std::nullopt;
  return t;
}

std::string tunnel_target(const TunnelTarget& t) {
  return std::string(kTunnelPath) + "/" + t.token +
         (t.direction == TunnelDirection::up ? "/up/" : "/down/") + std::to_string(t.offset) +
         (t.fin ? "?fin" : "");
}

}  // namespace ferry::proto
