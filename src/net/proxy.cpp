#include "net/proxy.hpp"

#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>

#include "net/tcp.hpp"

namespace ferry::net {

using proto::Errc;

namespace {
const char* first_env(std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (const char* v = std::getenv(n); v != nullptr && *v != '\0') return v;
  }
  return nullptr;
}
}  // namespace

proto::Result<std::optional<proto::ProxyUrl>> proxy_for(std::string_view host) {
  const char* setting = first_env({"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"});
  if (setting == nullptr) return std::optional<proto::ProxyUrl>{};
  if (const char* skip = first_env({"no_proxy", "NO_PROXY"});
      skip && proto::no_proxy_matches(skip, host)) {
    return std::optional<proto::ProxyUrl>{};
  }
  auto url = proto::parse_proxy_url(setting);
  if (!url) return std::unexpected(url.error());
  return std::optional<proto::ProxyUrl>{*url};
}

awaitable<proto::Result<void>> open_tunnel(beast::tcp_stream& stream, const proto::ProxyUrl& proxy,
                                           const std::string& host, std::uint16_t port,
                                           std::chrono::milliseconds timeout) {
  const bool v6 = host.find(':') != std::string::npos;
  const std::string target = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  std::string request = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
  if (const auto auth = proxy.authorization(); !auth.empty()) {
    request += "Proxy-Authorization: " + auth + "\r\n";
  }
  request += "\r\n";
  error_code ec;
  stream.expires_after(timeout);
  co_await asio::async_write(stream, asio::buffer(request), redirect(ec));
  std::string head;
  if (!ec) {
    co_await asio::async_read_until(stream, asio::dynamic_buffer(head, std::size_t{16} * 1024),
                                    "\r\n\r\n", redirect(ec));
  }
  stream.expires_never();
  const std::string where = "the proxy " + proxy.to_string();
  if (ec)
    co_return proto::fail(Errc::server_unreachable,
                          where + " did not answer CONNECT: " + describe(ec));
  // "HTTP/1.1 200 Connection established"
  const auto sp = head.find(' ');
  const int status = sp == std::string::npos ? 0 : std::atoi(head.c_str() + sp + 1);
  if (status == 200) {
    if (head.size() != head.find("\r\n\r\n") + 4) {
      co_return proto::fail(Errc::server_unreachable,
                            where + " sent data before the tunnel opened");
    }
    co_return proto::Result<void>{};
  }
  std::string why = "refused to connect to " + target + " (HTTP " + std::to_string(status) + ")";
  if (status == 407 || status == 401) {
    why = proxy.user.empty() ? "wants credentials (HTTP " + std::to_string(status) +
                                   "): put them in the proxy URL, http://user:password@proxy:port"
                             : "did not accept the credentials in the proxy URL (HTTP " +
                                   std::to_string(status) + ")";
  } else if (status == 403) {
    why = "does not allow connections to " + target +
          " (HTTP 403); ask its administrator to allow "
          "that port, or run the ferry server on port 443";
  }
  co_return proto::fail(Errc::server_unreachable, where + " " + why);
}

}  // namespace ferry::net
