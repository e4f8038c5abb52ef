// One stream type for a connection that is plain TCP or TLS over TCP, so HTTP, WebSocket, the
// relay and the record layer are written once. It is an Asio AsyncStream (Beast's websocket and
// http layers take it as their next layer); deadlines live on the TCP stream underneath.
#pragma once

#include <memory>
#include <variant>

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include "net/asio.hpp"
#include "proto/error.hpp"
#include "proto/server_url.hpp"

namespace ferry::net {

class AnyStream {
 public:
  using TlsStream = beast::ssl_stream<beast::tcp_stream>;
  using executor_type = beast::tcp_stream::executor_type;

  explicit AnyStream(beast::tcp_stream s) : s_(std::move(s)) {}
  // The context must outlive the stream: it is kept here.
  AnyStream(TlsStream s, std::shared_ptr<asio::ssl::context> context)
      : s_(std::move(s)), context_(std::move(context)) {}

  executor_type get_executor() { return tcp().get_executor(); }
  bool tls() const { return std::holds_alternative<TlsStream>(s_); }
  beast::tcp_stream& tcp() {
    if (auto* t = std::get_if<TlsStream>(&s_)) return t->next_layer();
    return std::get<beast::tcp_stream>(s_);
  }
  void expires_after(std::chrono::steady_clock::duration d) { tcp().expires_after(d); }
  void expires_never() { tcp().expires_never(); }
  // Stops sending (TCP half-close; TLS has none, so it shuts the socket's write side too).
  void shutdown_send();
  void close();

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          std::visit([&](auto& s) { s.async_read_some(b, std::move(handler)); }, s_);
        },
        token, buffers);
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          std::visit([&](auto& s) { s.async_write_some(b, std::move(handler)); }, s_);
        },
        token, buffers);
  }

  template <class Handler>
  friend void async_teardown(beast::role_type role, AnyStream& s, Handler&& handler) {
    std::visit(
        [&](auto& inner) {
          using beast::websocket::async_teardown;
          async_teardown(role, inner, std::forward<Handler>(handler));
        },
        s.s_);
  }
  // Beast closes the lowest layer through this when a WebSocket times out.
  friend void beast_close_socket(AnyStream& s) { s.close(); }
  friend void teardown(beast::role_type role, AnyStream& s, error_code& ec) {
    std::visit(
        [&](auto& inner) {
          using beast::websocket::teardown;
          teardown(role, inner, ec);
        },
        s.s_);
  }

 private:
  std::variant<beast::tcp_stream, TlsStream> s_;
  std::shared_ptr<asio::ssl::context> context_;
};

// A connection to a ferry server: TCP (through the environment's CONNECT proxy when one applies),
// then TLS for an https:// URL.
awaitable<proto::Result<AnyStream>> connect_server(const proto::ServerUrl& url,
                                                   std::chrono::milliseconds timeout);

// A TLS client over an open TCP stream: verifies the server's certificate against the system's
// trust store (or SSL_CERT_FILE / SSL_CERT_DIR) and that it names host.
awaitable<proto::Result<AnyStream>> start_tls_client(beast::tcp_stream stream,
                                                     const std::string& host,
                                                     std::chrono::milliseconds timeout);

// The server's side: a context from PEM files (a failure is a start-up error), and the handshake
// over a connection whose first bytes (read to tell TLS from the rest) are passed back in.
proto::Result<std::shared_ptr<asio::ssl::context>> tls_server_context(const std::string& cert_file,
                                                                      const std::string& key_file);
awaitable<proto::Result<AnyStream>> accept_tls(beast::tcp_stream stream,
                                               std::shared_ptr<asio::ssl::context> context,
                                               asio::const_buffer already_read,
                                               std::chrono::milliseconds timeout);

}  // namespace ferry::net
