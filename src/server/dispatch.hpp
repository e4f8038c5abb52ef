// What the server does with one parsed HTTP request, decided without I/O: the route (routes.hpp),
// the path, whether a browser's WebSocket comes from a welcome origin, and the relay download
// ticket. server.cpp only carries the answer out; the unit tests and a fuzz target (Beast's own
// parser fed hostile bytes) drive it whole.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/routes.hpp"

namespace ferry::server {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct DispatchContext {
  bool metrics_port = false;       // the request came in on --metrics-listen's port
  bool metrics_elsewhere = false;  // the server has a metrics port
  std::string_view origin;         // this server's own origin, lower case ("" when unknown)
  bool origin_from_host = false;   // no --public-url: pages are welcome from the Host they used
};

enum class RequestRefusal : std::uint8_t {
  none,
  cross_origin,  // a browser's WebSocket from another site's page (403)
  bad_ticket,    // /v1/relay with a query that is not ?down=<ticket> (400)
};

struct Dispatch {
  Route route = Route::page;
  std::string target;  // as sent
  std::string path;    // the target without its query
  RequestRefusal refusal = RequestRefusal::none;
  std::string ticket;  // relay (?down=, well formed) or relay_download (as in the path)
  bool page = false;   // a browser's request: it sent Origin
  bool cors = false;   // a relay download asked for by this server's own pages
  std::string origin;  // the Origin sent, cut to 200 bytes (for the log)
};

Dispatch dispatch_request(const HttpRequest& request, const DispatchContext& context);

// Whether the Origin a browser sent is ours (ours already lower case; scheme and host compare
// without case, as browsers send them lower case anyway).
bool same_origin(std::string_view given, std::string_view ours);
std::string lowercase(std::string_view s);

}  // namespace ferry::server
