#include "server/dispatch.hpp"

#include <algorithm>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cctype>

#include "proto/stun.hpp"

namespace ferry::server {

namespace http = boost::beast::http;

bool same_origin(std::string_view given, std::string_view ours) {
  return given.size() == ours.size() &&
         std::equal(given.begin(), given.end(), ours.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

namespace {
// Whether a Host header names an address (an IP literal, or localhost) rather than a DNS name.
// A page whose origin is a DNS name may be a DNS-rebinding attacker's: its name first pointed at
// the attacker's site, then at this server, and its Origin and Host then agree.
bool host_is_address(std::string_view host) {
  std::string_view name = host;
  if (name.starts_with('[')) {
    name = name.substr(1, name.find(']') == std::string_view::npos ? 0 : name.find(']') - 1);
  } else if (const auto colon = name.find(':');
             colon != std::string_view::npos &&
             name.find(':', colon + 1) == std::string_view::npos) {
    name = name.substr(0, colon);
  }
  return lowercase(name) == "localhost" || proto::parse_ip(name).has_value();
}
}  // namespace

Dispatch dispatch_request(const HttpRequest& req, const DispatchContext& ctx) {
  Dispatch d;
  d.target = std::string(req.target());
  d.path = d.target.substr(0, d.target.find('?'));
  d.route = route({.metrics_port = ctx.metrics_port,
                   .websocket_upgrade = boost::beast::websocket::is_upgrade(req),
                   .get = req.method() == http::verb::get,
                   .post = req.method() == http::verb::post,
                   .path = d.path,
                   .metrics_elsewhere = ctx.metrics_elsewhere});
  const auto origin = req.find(http::field::origin);
  d.page = origin != req.end();
  if (d.page) d.origin = std::string(origin->value().substr(0, 200));
  const bool ours = d.page && same_origin(origin->value(), ctx.origin);
  if (d.route == Route::relay_download) {
    d.ticket = d.path.substr(kRelayDownloadPath.size());
    d.cors = ours;
    return d;
  }
  if (d.route != Route::rendezvous && d.route != Route::relay &&
      d.route != Route::wormhole_mailbox && d.route != Route::tunnel_open) {
    return d;
  }
  // A browser always sends Origin: a page elsewhere may not use its visitors to burn codes,
  // fill mailboxes or relay through this server (magic-wormhole's /v1 included), nor open a
  // tunnel (http_tunnel.hpp) to do the same inside it. Programs (the
  // CLI, wormhole's clients) send none. Without --public-url the server does not know its own
  // name: a page is then also welcome from the origin it was loaded through (the request's
  // Host) when that is an address, e.g. on a LAN, never a DNS name (DNS rebinding).
  if (d.page && !ours) {
    const auto host = req.find(http::field::host);
    const bool own_host = ctx.origin_from_host && host != req.end() &&
                          host_is_address(host->value()) &&
                          (same_origin(origin->value(), "http://" + lowercase(host->value())) ||
                           same_origin(origin->value(), "https://" + lowercase(host->value())));
    if (!own_host) {
      d.refusal = RequestRefusal::cross_origin;
      return d;
    }
  }
  if (d.route == Route::relay && d.target.size() > d.path.size()) {
    // ?down=<ticket>: the bytes for this browser leave as a GET's body (relay_link.hpp).
    constexpr std::string_view kDown = "?down=";
    const std::string_view query = std::string_view(d.target).substr(d.path.size());
    if (query.starts_with(kDown) && valid_ticket(query.substr(kDown.size()))) {
      d.ticket = std::string(query.substr(kDown.size()));
    } else {
      d.refusal = RequestRefusal::bad_ticket;
    }
  }
  return d;
}

}  // namespace ferry::server
