// The static pages `ferry serve` answers plain HTTP requests with. Loading a page never touches the
// rendezvous, so a chat app's link preview cannot consume a code.
#pragma once

#include <string>
#include <string_view>

namespace ferry::server {

struct Page {
  int status = 200;
  std::string content_type;
  std::string body;
};

Page page_for(std::string_view target, std::string_view public_url);

// Headers every response carries: no third-party anything, no referrer, no framing.
inline constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; img-src 'self' "
    "data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'";

}  // namespace ferry::server
