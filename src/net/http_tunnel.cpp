#include "net/http_tunnel.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http.hpp>
#include <optional>

#include "net/tcp.hpp"
#include "proto/http_tunnel.hpp"

namespace ferry::net {

namespace http = beast::http;
using proto::Errc;
using local_socket = asio::local::stream_protocol::socket;

namespace {

// How often a request lost with its connection is sent again before the tunnel gives up, with
// pauses doubling from the first (a proxy that opens a connection per request may meet the
// server's limit on new connections a second).
constexpr int kAttempts = 6;
constexpr std::chrono::milliseconds kFirstPause{100};
constexpr std::chrono::milliseconds kUploadWait{60000};
constexpr std::chrono::milliseconds kGather{2};

// One kept-alive connection to the server (through the proxy, TLS), made again when lost.
class Requester {
 public:
  Requester(proto::ServerUrl url, std::chrono::milliseconds timeout)
      : url_(std::move(url)), host_(url_.host_header()), timeout_(timeout) {}

  // Sends the request, again on a new connection when the connection fails on the way.
  awaitable<proto::Result<http::response<http::string_body>>> request(
      http::verb method, const std::string& target, std::string_view body,
      std::chrono::milliseconds wait = {}) {
    std::string last;
    asio::steady_timer pause(co_await asio::this_coro::executor);
    for (int attempt = 0; attempt < kAttempts && !stopped_; ++attempt) {
      if (attempt > 0) {
        pause.expires_after(kFirstPause * (1 << (attempt - 1)));
        error_code ignored;
        co_await pause.async_wait(redirect(ignored));
        if (stopped_) break;
      }
      if (!stream_) {
        auto s = co_await connect_server(url_, timeout_);
        if (!s) co_return std::unexpected(s.error());
        if (stopped_) break;
        stream_.emplace(std::move(*s));
        buffer_.clear();
      }
      http::request<http::string_body> req{method, target, 11};
      req.set(http::field::host, host_);
      req.set(http::field::user_agent, "ferry");
      req.set(http::field::cache_control, "no-store");
      if (method == http::verb::post) {
        req.set(http::field::content_type, "application/octet-stream");
        req.body() = std::string(body);
      }
      req.keep_alive(true);
      req.prepare_payload();
      http::response_parser<http::string_body> parser;
      parser.body_limit(proto::kTunnelMaxBody + 4096);
      error_code ec;
      stream_->expires_after(timeout_ + wait);
      co_await http::async_write(*stream_, req, redirect(ec));
      if (!ec) co_await http::async_read(*stream_, buffer_, parser, redirect(ec));
      if (stream_) stream_->expires_never();
      if (ec) {
        last = describe(ec);
        stream_.reset();
        continue;
      }
      auto res = parser.release();
      if (!res.keep_alive()) stream_.reset();
      if (res.result() == http::status::conflict) {
        // The same request, sent before on a connection that was lost, is still being carried
        // out at the server: asked again after a pause.
        last = "the server was still busy with it";
        continue;
      }
      if (res.result() == http::status::bad_gateway ||
          res.result() == http::status::service_unavailable ||
          res.result() == http::status::gateway_timeout) {
        // A proxy's answer when its own connection to the server failed (squid: 503 when the
        // server's limit on new connections a second refused it): the request is sent again.
        last = "HTTP " + std::to_string(res.result_int()) + " from the way there";
        continue;
      }
      co_return res;
    }
    co_return proto::fail(Errc::server_unreachable,
                          "the HTTPS requests to " + url_.to_string() + " failed" +
                              (last.empty() ? std::string() : " (" + last + ")"));
  }
  // Ends a request under way and any to come.
  void stop() {
    stopped_ = true;
    if (stream_) stream_->close();
  }

 private:
  proto::ServerUrl url_;
  std::string host_;
  std::chrono::milliseconds timeout_;
  std::optional<AnyStream> stream_;
  beast::flat_buffer buffer_;
  bool stopped_ = false;
};

// Moves bytes between the socket pair's far end and the server's tunnel: one coroutine each way,
// each with its own connection (a GET's hold would block the other direction's requests).
struct Pumps : std::enable_shared_from_this<Pumps> {
  Pumps(local_socket p, local_socket r, const proto::ServerUrl& url, std::string t,
        std::chrono::milliseconds timeout)
      : pump(std::move(p)),
        reader(std::move(r)),
        token(std::move(t)),
        base_path(url.base_path),
        up_requests(url, timeout),
        down_requests(url, timeout) {
    error_code ec;
    reader.non_blocking(true, ec);
  }

  void stop() {
    error_code ec;
    up_requests.stop();
    down_requests.stop();
    pump.close(ec);
    reader.close(ec);
  }

  awaitable<void> up(std::shared_ptr<Pumps>) {
    std::string buf(proto::kTunnelMaxBody, '\0');
    proto::TunnelTarget target{.token = token};
    asio::steady_timer gather(co_await asio::this_coro::executor);
    for (;;) {
      error_code ec;
      std::size_t n = co_await reader.async_read_some(asio::buffer(buf), redirect(ec));
      // More while it keeps coming within kGather: fewer, fuller requests (a proxy like squid
      // opens a new connection to the server for every request with a body).
      while (!ec && n < buf.size()) {
        const std::size_t m = reader.read_some(asio::buffer(buf.data() + n, buf.size() - n), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
          ec.clear();
          gather.expires_after(kGather);
          gather.async_wait([this](error_code e) {
            error_code ignored;
            if (!e) reader.cancel(ignored);
          });
          error_code waited;
          co_await reader.async_wait(local_socket::wait_read, redirect(waited));
          gather.cancel();
          if (waited) break;
          continue;
        }
        n += m;
      }
      // Our side stopped sending (or closed): the server's connection inside hears the same.
      target.fin = static_cast<bool>(ec);
      // The answer waits while the server's side passes the bytes on: as long as the relay's
      // peer takes to read them (the server gives up after a minute).
      const auto res =
          co_await up_requests.request(http::verb::post, base_path + proto::tunnel_target(target),
                                       std::string_view(buf).substr(0, n), kUploadWait);
      if (!res || res->result() != http::status::no_content) co_return stop();
      target.offset += n;
      if (target.fin) break;
    }
    // Our side may still read (a graceful close) until it closes its end: then the GET under
    // way is ended rather than waited out.
    asio::steady_timer tick(co_await asio::this_coro::executor);
    while (pump.is_open()) {
      pollfd p{pump.native_handle(), POLLOUT, 0};
      if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0) co_return stop();
      tick.expires_after(std::chrono::milliseconds(200));
      error_code ec;
      co_await tick.async_wait(redirect(ec));
    }
  }

  awaitable<void> down(std::shared_ptr<Pumps>) {
    proto::TunnelTarget target{.token = token, .direction = proto::TunnelDirection::down};
    for (;;) {
      const auto res = co_await down_requests.request(
          http::verb::get, base_path + proto::tunnel_target(target), {},
          std::chrono::duration_cast<std::chrono::milliseconds>(proto::kTunnelHold));
      if (!res) co_return stop();
      const auto status = res->result();
      if (status == http::status::no_content) continue;
      if (status == http::status::gone) {
        error_code ec;
        pump.shutdown(local_socket::shutdown_send, ec);
        co_return;
      }
      if (status != http::status::ok) co_return stop();
      error_code ec;
      co_await asio::async_write(pump, asio::buffer(res->body()), redirect(ec));
      if (ec) co_return stop();
      target.offset += res->body().size();
    }
  }

  local_socket pump;  // the server's bytes are written here
  // The same socket under a second descriptor, for our side's bytes: a wait on it is cancelled
  // alone, never a write of the server's bytes.
  local_socket reader;
  std::string token;
  std::string base_path;  // the server URL's
  Requester up_requests;
  Requester down_requests;
};

}  // namespace

awaitable<proto::Result<AnyStream>> open_http_tunnel(const proto::ServerUrl& url,
                                                     std::chrono::milliseconds timeout) {
  Requester opener(url, timeout);
  const auto res = co_await opener.request(http::verb::post,
                                           url.base_path + std::string(proto::kTunnelPath), {});
  if (!res) co_return std::unexpected(res.error());
  const std::string token = res->body();
  if (res->result() != http::status::ok || !proto::valid_tunnel_token(token)) {
    co_return proto::fail(Errc::server_unreachable,
                          url.to_string() + " did not open an HTTPS-request tunnel (HTTP " +
                              std::to_string(res->result_int()) + ")");
  }
  std::array<int, 2> fds{};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds.data()) != 0) {
    co_return proto::fail(Errc::server_unreachable, "no socket pair for the tunnel");
  }
  const auto ex = co_await asio::this_coro::executor;
  error_code ec;
  tcp::socket ours(ex);
  ours.assign(tcp::v4(), fds[0], ec);
  local_socket pump(ex);
  if (!ec) pump.assign(asio::local::stream_protocol(), fds[1], ec);
  local_socket reader(ex);
  const int dup = ec ? -1 : ::dup(fds[1]);
  if (dup >= 0) reader.assign(asio::local::stream_protocol(), dup, ec);
  if (ec || dup < 0) {
    if (!ours.is_open()) ::close(fds[0]);
    if (!pump.is_open()) ::close(fds[1]);
    if (dup >= 0 && !reader.is_open()) ::close(dup);
    co_return proto::fail(Errc::server_unreachable, "no socket pair for the tunnel");
  }
  auto pumps = std::make_shared<Pumps>(std::move(pump), std::move(reader), url, token, timeout);
  asio::co_spawn(ex, pumps->up(pumps), asio::detached);
  asio::co_spawn(ex, pumps->down(pumps), asio::detached);
  co_return AnyStream(beast::tcp_stream(std::move(ours)));
}

}  // namespace ferry::net
