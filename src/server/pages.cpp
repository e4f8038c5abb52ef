#include "server/pages.hpp"

#include "server/web_assets.hpp"

namespace ferry::server {

namespace {
// Text for HTML: the public URL is the operator's, but it still goes in as text, never markup.
std::string escape_html(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string html(std::string_view title, std::string_view body) {
  return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
         "<title>" +
         std::string(title) +
         "</title></head><body style=\"font-family:sans-serif;"
         "max-width:40em;margin:2em auto;padding:0 1em;line-height:1.5\">" +
         std::string(body) + "</body></html>\n";
}
}  // namespace

Page page_for(std::string_view target, std::string_view public_url) {
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  if (path == "/healthz") return {200, "text/plain; charset=utf-8", "ok\n"};
  if (path == "/" || path == "/index.html") {
    if (const auto page = find_web_asset("index.html")) {
      return {200, std::string(page->content_type), std::string(page->body)};
    }
    return {200, "text/html; charset=utf-8",
            html("ferry",
                 "<h1>ferry</h1><p>This is a ferry server. It introduces two computers "
                 "that want to exchange files and relays their encrypted bytes when no "
                 "direct path exists. It never sees the files or the keys.</p>"
                 "<p>To send: <code>ferry send --server " +
                     escape_html(public_url) + " FILE</code></p>")};
  }
  if (path.starts_with("/app/")) {
    if (const auto asset = find_web_asset(path)) {
      return {200, std::string(asset->content_type), std::string(asset->body)};
    }
    return {404, "text/plain; charset=utf-8", "not found\n"};
  }
  const bool receive_page = path == "/r" || path == "/r/";
  if (receive_page) {
    if (const auto page = find_web_asset("receive.html")) {
      return {200, std::string(page->content_type), std::string(page->body)};
    }
  }
  if (receive_page) {
    return {200, "text/html; charset=utf-8",
            html("ferry: receive",
                 "<h1>Receive with ferry</h1><p>This server was built without its browser page "
                 "(web/dist was not built). Install ferry and run <code>ferry receive '&lt;this "
                 "link&gt;'</code> with the whole link you were given.</p>"
                 "<p>Opening this page did not use up the link.</p>")};
  }
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

}  // namespace ferry::server
