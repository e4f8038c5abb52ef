#include "net/proxy.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>

#include "net/tcp.hpp"
#include "proto/socks5.hpp"

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

ProxyChoice proxy_for(std::string_view host) {
  const char* setting = first_env({"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"});
  if (setting == nullptr) return {};
  if (const char* skip = first_env({"no_proxy", "NO_PROXY"});
      skip && proto::no_proxy_matches(skip, host)) {
    return {};
  }
  auto url = proto::parse_proxy_url(setting);
  if (!url) return {std::nullopt, url.error().detail};
  return {std::move(*url), {}};
}

namespace {

awaitable<proto::Result<void>> socks5_exchange(beast::tcp_stream& stream, proto::ByteView out,
                                               proto::Bytes& in, std::size_t want,
                                               const std::string& what) {
  error_code ec;
  if (!out.empty())
    co_await asio::async_write(stream, asio::buffer(out.data(), out.size()), redirect(ec));
  in.resize(want);
  if (!ec) co_await asio::async_read(stream, asio::buffer(in), redirect(ec));
  if (ec) co_return proto::fail(proto::Errc::server_unreachable, what + ": " + describe(ec));
  co_return proto::Result<void>{};
}

// SOCKS5: greeting, the username and password when the proxy wants them, CONNECT.
awaitable<proto::Result<void>> open_socks5(beast::tcp_stream& stream, const proto::ProxyUrl& proxy,
                                           const std::string& host, std::uint16_t port) {
  namespace socks5 = proto::socks5;
  const std::string where = "the SOCKS proxy " + proxy.to_string();
  const bool with_password = !proxy.user.empty();
  std::string target = host;
  if (proxy.scheme == proto::ProxyScheme::socks5 && !proto::parse_ip(host)) {
    // socks5://: the name is resolved here, as curl does (socks5h:// sends the name).
    tcp::resolver resolver(co_await asio::this_coro::executor);
    error_code ec;
    auto found = co_await resolver.async_resolve(host, std::to_string(port), redirect(ec));
    if (ec || found.empty()) {
      co_return proto::fail(Errc::server_unreachable,
                            host + ": " + describe(ec) +
                                " (socks5:// resolves names here; socks5h:// asks the proxy)");
    }
    target = unmapped(found.begin()->endpoint().address()).to_string();
  }
  proto::Bytes in;
  const proto::Bytes hello = socks5::greeting(with_password);
  auto r = co_await socks5_exchange(stream, hello, in, 2, where + " did not answer");
  if (!r) co_return r;
  auto method = socks5::parse_choice(in, with_password);
  if (!method) co_return std::unexpected(method.error());
  if (*method == socks5::Method::password) {
    auto login = socks5::password_request(proxy.user, proxy.password);
    if (!login) co_return std::unexpected(login.error());
    r = co_await socks5_exchange(stream, *login, in, 2, where + " did not answer the login");
    if (!r) co_return r;
    if (auto ok = socks5::parse_password_reply(in); !ok) co_return ok;
  }
  auto connect = socks5::connect_request(target, port);
  if (!connect) co_return std::unexpected(connect.error());
  r = co_await socks5_exchange(stream, *connect, in, 5, where + " did not answer CONNECT");
  if (!r) co_return r;
  auto length = socks5::reply_length(in);
  if (!length) co_return std::unexpected(length.error());
  proto::Bytes rest;
  if (*length > 5) {
    r = co_await socks5_exchange(stream, {}, rest, *length - 5, where + " did not answer CONNECT");
    if (!r) co_return r;
  }
  proto::append(in, rest);
  if (auto ok = socks5::parse_reply(in); !ok) {
    co_return proto::fail(Errc::server_unreachable, ok.error().detail + " (connecting to " + host +
                                                        ":" + std::to_string(port) + ")");
  }
  co_return proto::Result<void>{};
}

}  // namespace

awaitable<proto::Result<void>> open_tunnel(beast::tcp_stream& stream, const proto::ProxyUrl& proxy,
                                           const std::string& host, std::uint16_t port,
                                           std::chrono::milliseconds timeout) {
  if (proxy.scheme != proto::ProxyScheme::http) {
    stream.expires_after(timeout);
    auto opened = co_await open_socks5(stream, proxy, host, port);
    stream.expires_never();
    co_return opened;
  }
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
