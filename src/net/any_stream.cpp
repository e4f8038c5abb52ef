#include "net/any_stream.hpp"

#include <openssl/ssl.h>

#include <boost/asio/ssl/host_name_verification.hpp>

#include <openssl/x509.h>

#include <algorithm>
#include <cstdlib>

#include "net/proxy.hpp"
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
  auto tls = co_await start_tls_client(std::move(*stream), url.host, timeout);
  if (!tls && tls.error().detail.find("is not trusted here") != std::string::npos) {
    // A proxy that intercepts TLS shows certificates of its own making.
    if (const auto proxy = proxy_for(url.host).proxy) {
      co_return proto::fail(
          Errc::server_unreachable,
          tls.error().detail + ". The connection goes through the proxy " + proxy->to_string() +
              ", which may intercept TLS and present certificates of its own: trust your "
              "organization's CA with --ca-file FILE (or FERRY_CA_FILE), or ask its "
              "administrator to let " +
              url.host + " through uninspected");
    }
  }
  co_return tls;
}

namespace {
// The issuer of the certificate that failed verification, one line ("CN=..., O=...").
std::string issuer_of(X509* cert) {
  if (cert == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  X509_NAME_print_ex(bio, X509_get_issuer_name(cert), 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(std::max(0L, std::min(n, 300L))));
  BIO_free(bio);
  // Said on a terminal: printable ASCII only.
  for (auto& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  }
  return out;
}
}  // namespace

awaitable<proto::Result<AnyStream>> start_tls_client(beast::tcp_stream stream,
                                                     const std::string& host,
                                                     std::chrono::milliseconds timeout) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  error_code ec;
  context->set_default_verify_paths(ec);
  // FERRY_CA_FILE (ferry's --ca-file sets it): a CA to trust beside the system's, such as the
  // one an organization's TLS-inspecting proxy signs with.
  const char* ca_file = std::getenv("FERRY_CA_FILE");
  if (ca_file != nullptr && *ca_file != '\0') {
    context->load_verify_file(ca_file, ec);
    if (ec) {
      co_return proto::fail(
          Errc::usage, "the CA file " + std::string(ca_file) + " cannot be used: " + ec.message());
    }
  }
  context->set_verify_mode(asio::ssl::verify_peer);
  AnyStream::TlsStream tls(std::move(stream), *context);
  asio::ip::make_address(host, ec);
  if (ec) SSL_set_tlsext_host_name(tls.native_handle(), host.c_str());  // SNI for names only
  auto untrusted_issuer = std::make_shared<std::string>();
  tls.set_verify_callback([names = asio::ssl::host_name_verification(host), untrusted_issuer](
                              bool preverified, asio::ssl::verify_context& ctx) mutable {
    if (!preverified && untrusted_issuer->empty()) {
      *untrusted_issuer = issuer_of(X509_STORE_CTX_get_current_cert(ctx.native_handle()));
    }
    return names(preverified, ctx);
  });
  tls.next_layer().expires_after(timeout);
  ec.clear();
  co_await tls.async_handshake(asio::ssl::stream_base::client, redirect(ec));
  tls.next_layer().expires_never();
  if (ec) {
    const bool cert = ec.category() == asio::error::get_ssl_category();
    co_return proto::fail(
        Errc::server_unreachable,
        cert ? "TLS with " + host + " failed (" + ec.message() + "): its certificate" +
                   (untrusted_issuer->empty() ? std::string()
                                              : ", issued by \"" + *untrusted_issuer + "\",") +
                   " is not trusted here"
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
