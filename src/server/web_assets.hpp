// The browser app (web/, bundled by `npm run build` into web/dist) compiled into the binary, so
// `ferry serve` serves it with no files beside it and no third-party CDN at run time.
#pragma once

#include <optional>
#include <string_view>

namespace ferry::server {

struct WebAsset {
  std::string_view content_type;
  std::string_view body;
};

// path: "/app/receive.js", ... or "receive.html"; nullopt when unknown or not built in.
std::optional<WebAsset> find_web_asset(std::string_view path);
// Whether this binary carries the web app (web/dist existed when it was built).
bool web_app_built();

}  // namespace ferry::server
