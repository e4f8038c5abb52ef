#include "net/any_stream.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ssl/host_name_verification.hpp>

#include "net/tcp.hpp"

namespace ferry::net {

using proto::Errc;

void AnyStream::shutdown_send() {
  error_code ec;
  tcp().socket().shutdown(tcp::socket::shutdown_send, ec);
}

void AnyStream::close() {
  error_code ec;
  tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
  tcp().close();
}

awaitable<proto::Result<AnyStream>> connect_server(const proto::ServerUrl& url,
                                                   std::chrono::milliseconds timeout) {
  auto stream = co_await connect_tcp(url.host, url.port, timeout);
  if (!stream) co_return std::unexpected(stream.error());
  if (!url.tls) co_return AnyStream(std::move(*stream));
  co_return co_await start_tls_client(std::move(*stream), url.host, timeout);
}

awaitable<proto::Result<AnyStream>> start_tls_client(beast::tcp_stream stream,
                                                     const std::string& host,
                                                     std::chrono::milliseconds timeout) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  error_code ec;
  context->set_default_verify_paths(ec);
  context->set_verify_mode(asio::ssl::verify_peer);
  AnyStream::TlsStream tls(std::move(stream), *context);
  asio::ip::make_address(host, ec);
  if (ec) SSL_set_tlsext_host_name(tls.native_handle(), host.c_str());  // SNI for names only
  tls.set_verify_callback(asio::ssl::host_name_verification(host));
  tls.next_layer().expires_after(timeout);
  ec.clear();
  co_await tls.async_handshake(asio::ssl::stream_base::client, redirect(ec));
  tls.next_layer().expires_never();
  if (ec) {
    const bool cert = ec.category() == asio::error::get_ssl_category();
    co_return proto::fail(Errc::server_unreachable,
                          cert ? "TLS with " + host + " failed (" + ec.message() +
                                     "): its certificate is not trusted here"
                               : "TLS with " + host + " failed: " + describe(ec));
  }
  co_return AnyStream(std::move(tls), std::move(context));
}

proto::Result<std::shared_ptr<asio::ssl::context>> tls_server_context(const std::string& cert_file,
                                                                      const std::string& key_file) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  error_code ec;
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                           asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                           asio::ssl::context::no_tlsv1_1,
                       ec);
  context->use_certificate_chain_file(cert_file, ec);
  if (ec) {
    return proto::fail(Errc::usage,
                       "cannot load the TLS certificate " + cert_file + ": " + ec.message());
  }
  context->use_private_key_file(key_file, asio::ssl::context::pem, ec);
  if (ec) {
    return proto::fail(Errc::usage,
                       "cannot load the TLS key " + key_file + ": " + ec.message() +
                           " (it must be the PEM key of the certificate given with --tls-cert)");
  }
  return context;
}

awaitable<proto::Result<AnyStream>> accept_tls(beast::tcp_stream stream,
                                               std::shared_ptr<asio::ssl::context> context,
                                               asio::const_buffer already_read,
                                               std::chrono::milliseconds timeout) {
  AnyStream::TlsStream tls(std::move(stream), *context);
  error_code ec;
  tls.next_layer().expires_after(timeout);
  co_await tls.async_handshake(asio::ssl::stream_base::server, already_read, redirect(ec));
  tls.next_layer().expires_never();
  if (ec) co_return proto::fail(Errc::protocol, "TLS handshake failed: " + ec.message());
  co_return AnyStream(std::move(tls), std::move(context));
}

}  // namespace ferry::net
