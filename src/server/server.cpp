#include "server/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>

#include <sodium.h>

#include "net/byte_stream.hpp"
#include "net/tcp.hpp"
#include "server/pages.hpp"

namespace ferry::server {

using namespace net;
namespace http = beast::http;
namespace websocket = beast::websocket;

// One rendezvous client: reads frames into the Rendezvous, writes what it delivers in order.
class Server::RendezvousConnection : public Client,
                                     public std::enable_shared_from_this<RendezvousConnection> {
 public:
  RendezvousConnection(WebSocket ws, std::string address, Rendezvous& rendezvous,
                       AddressRateLimiter& claims, ServerCounters& counters,
                       std::chrono::seconds nameplate_ttl, std::vector<std::uint16_t> stun_ports)
      : ws_(std::move(ws)),
        stun_ports_(std::move(stun_ports)),
        rendezvous_(rendezvous),
        claims_(claims),
        counters_(counters),
        wake_(ws_.get_executor()),
        ttl_(ws_.get_executor()),
        nameplate_ttl_(nameplate_ttl),
        observed_(std::move(address)) {}

  std::string observed_address() const override { return observed_; }

  void deliver(const proto::ServerMessage& m) override {
    if (std::holds_alternative<proto::rv::Paired>(m)) ttl_.cancel();
    queue_.push_back(proto::encode_server(m));
    wake_.cancel();
  }

  void kick(std::string_view code, std::string_view reason) override {
    if (closing_) return;
    queue_.push_back(
        proto::encode_server(proto::rv::ServerError{std::string(code), std::string(reason)}));
    close_reason_ =
        std::string(reason.substr(0, 120));  // a close reason must fit in a control frame
    closing_ = true;
    wake_.cancel();
  }

  awaitable<void> run() {
    auto self = shared_from_this();
    wake_.expires_at(asio::steady_timer::time_point::max());
    asio::co_spawn(ws_.get_executor(), writer(self), asio::detached);
    asio::co_spawn(ws_.get_executor(), expire(self), asio::detached);
    deliver(proto::rv::Welcome{proto::kRendezvousVersion, observed_, stun_ports_});
    beast::flat_buffer buffer;
    error_code ec;
    while (!closing_) {
      buffer.clear();
      co_await ws_.async_read(buffer, redirect(ec));
      if (ec) break;
      if (!ws_.got_text()) {
        kick("malformed", "rendezvous messages are JSON text frames");
        break;
      }
      const auto m = proto::decode_client(beast::buffers_to_string(buffer.data()));
      if (!m) {
        kick("malformed", m.error().detail);
        break;
      }
      if (std::holds_alternative<proto::rv::Claim>(*m) &&
          !claims_.allow(observed_, AddressRateLimiter::Clock::now())) {
        ++counters_.claims_refused;
        kick("limit", "too many codes were tried from your address; wait a minute and try again");
        break;
      }
      rendezvous_.on_message(*this, *m);
    }
    if (ec == websocket::error::message_too_big) kick("malformed", "message too large");
    rendezvous_.on_disconnect(*this);
    done_ = true;
    wake_.cancel();
    ttl_.cancel();
  }

 private:
  awaitable<void> writer(std::shared_ptr<RendezvousConnection>) {
    error_code ec;
    for (;;) {
      while (!queue_.empty()) {
        ws_.text(true);
        co_await ws_.async_write(asio::buffer(queue_.front()), redirect(ec));
        if (ec) co_return;
        queue_.pop_front();
      }
      if (closing_) {
        co_await ws_.async_close(
            websocket::close_reason(websocket::close_code::policy_error, close_reason_),
            redirect(ec));
        co_return;
      }
      if (done_) co_return;
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(redirect(ec));
    }
  }

  awaitable<void> expire(std::shared_ptr<RendezvousConnection>) {
    ttl_.expires_after(nameplate_ttl_);
    error_code ec;
    co_await ttl_.async_wait(redirect(ec));
    if (!ec && !done_) {
      kick("expired", "nobody used this code in time; start again for a new one");
      rendezvous_.on_disconnect(*this);
    }
  }

  WebSocket ws_;
  std::vector<std::uint16_t> stun_ports_;
  Rendezvous& rendezvous_;
  AddressRateLimiter& claims_;
  ServerCounters& counters_;
  asio::steady_timer wake_;
  asio::steady_timer ttl_;
  std::chrono::seconds nameplate_ttl_;
  std::string observed_;
  std::deque<std::string> queue_;
  std::string close_reason_;
  bool closing_ = false;
  bool done_ = false;
};

namespace {
proto::RelayKey relay_key(const std::optional<proto::RelayKey>& given) {
  if (given) return *given;
  proto::RelayKey k{};
  randombytes_buf(k.data(), k.size());
  return k;
}

constexpr auto kSniffTimeout = std::chrono::seconds(10);
}  // namespace

Server::Server(asio::io_context& io, ServerOptions options)
    : io_(io),
      options_(std::move(options)),
      acceptor_(io),
      relay_(options_.relay, relay_key(options_.relay_key)),
      rendezvous_(options_.rendezvous,
                  [this](const proto::Bytes& session) {
                    return options_.relay_enabled ? relay_.issue_grant(session) : proto::Bytes{};
                  }),
      claims_(options_.claims_per_minute) {}

Server::~Server() = default;

proto::Result<void> Server::start() {
  if (!options_.tls_cert.empty() || !options_.tls_key.empty()) {
    if (options_.tls_cert.empty() || options_.tls_key.empty()) {
      return proto::fail(proto::Errc::usage, "--tls-cert and --tls-key go together");
    }
    auto tls = tls_server_context(options_.tls_cert, options_.tls_key);
    if (!tls) return std::unexpected(tls.error());
    tls_ = std::move(*tls);
  }
  error_code ec;
  acceptor_.open(options_.listen.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(options_.listen, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return proto::fail(proto::Errc::usage,
                       "cannot listen on " + options_.listen.address().to_string() + ":" +
                           std::to_string(options_.listen.port()) + ": " + ec.message());
  }
  if (options_.public_url.empty()) {
    const auto ep = acceptor_.local_endpoint();
    const auto a = ep.address();
    const std::string host = a.is_unspecified() ? "127.0.0.1"
                             : a.is_v6()        ? "[" + a.to_string() + "]"
                                                : a.to_string();
    options_.public_url =
        std::string(tls_ ? "https://" : "http://") + host + ":" + std::to_string(ep.port());
  }
  if (options_.stun) {
    const std::uint16_t tcp_port = acceptor_.local_endpoint().port();
    std::array<std::uint16_t, 2> ports = options_.stun_ports;
    if (ports[0] == 0) ports[0] = tcp_port;
    if (ports[1] == 0 && ports[0] < 65535) ports[1] = static_cast<std::uint16_t>(ports[0] + 1);
    stun_ = std::make_unique<StunResponder>(io_, options_.listen.address(), ports,
                                            options_.stun_alternate_ip);
    auto started = stun_->start();
    if (!started && options_.stun_ports == std::array<std::uint16_t, 2>{0, 0}) {
      // The ports beside the TCP port are taken (an ephemeral TCP port): any free ones will do.
      stun_ = std::make_unique<StunResponder>(io_, options_.listen.address(),
                                              std::array<std::uint16_t, 2>{0, 0},
                                              options_.stun_alternate_ip);
      started = stun_->start();
    }
    if (!started) return started;
    const auto bound = stun_->ports();
    stun_ports_.assign(bound.begin(), bound.end());
  }
  asio::co_spawn(io_, accept_loop(), asio::detached);
  return {};
}

tcp::endpoint Server::local_endpoint() const {
  return acceptor_.local_endpoint();
}

awaitable<void> Server::accept_loop() {
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(redirect(ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;  // e.g. EMFILE: keep serving the others
    if (counters_.connections >= options_.max_connections) {
      ++counters_.connections_refused;
      continue;  // the socket closes on scope exit
    }
    asio::co_spawn(io_, handle(std::move(socket)), asio::detached);
  }
}

awaitable<void> Server::handle(tcp::socket socket) {
  ++counters_.connections;
  struct Count {
    std::size_t& n;
    ~Count() { --n; }
  } count{counters_.connections};
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  const auto peer = socket.remote_endpoint(ec);
  if (ec) co_return;
  const std::string address = unmapped(peer.address()).to_string();
  beast::tcp_stream stream(std::move(socket));
  std::array<std::uint8_t, 4> first{};
  stream.expires_after(kSniffTimeout);
  co_await asio::async_read(stream, asio::buffer(first), redirect(ec));
  stream.expires_never();
  if (ec) co_return;
  constexpr std::uint8_t kTlsHandshake = 0x16;
  if (first[0] != kTlsHandshake || !tls_) {
    co_return co_await dispatch(AnyStream(std::move(stream)), first, address);
  }
  auto tls = co_await accept_tls(std::move(stream), tls_, asio::buffer(first), kSniffTimeout);
  if (!tls) co_return;
  tls->expires_after(kSniffTimeout);
  co_await asio::async_read(*tls, asio::buffer(first), redirect(ec));
  tls->expires_never();
  if (ec) co_return;
  co_await dispatch(std::move(*tls), first, address);
}

awaitable<void> Server::dispatch(AnyStream stream, std::array<std::uint8_t, 4> first,
                                 std::string address) {
  if (std::equal(first.begin(), first.end(), proto::kRelayMagic.begin())) {
    std::array<std::uint8_t, proto::kRelayHelloBytes> hello{};
    std::copy(first.begin(), first.end(), hello.begin());
    error_code ec;
    stream.expires_after(options_.relay.hello_timeout);
    co_await asio::async_read(stream, asio::buffer(hello.data() + 4, hello.size() - 4),
                              redirect(ec));
    stream.expires_never();
    if (ec) co_return;
    co_return co_await relay_.handle(raw_relay_link(std::move(stream)), std::move(address), hello);
  }
  beast::flat_buffer buffer;
  auto space = buffer.prepare(first.size());
  std::memcpy(space.data(), first.data(), first.size());
  buffer.commit(first.size());
  co_await serve_http(std::move(stream), std::move(buffer), std::move(address));
}

awaitable<void> Server::serve_relay_download(AnyStream stream, std::string_view ticket,
                                             unsigned version) {
  error_code ec;
  if (!downloads_.waiting(ticket)) {
    http::response<http::string_body> res{http::status::not_found, version};
    res.set(http::field::cache_control, "no-store");
    res.body() = "no relay connection waits for this download\n";
    res.prepare_payload();
    co_await http::async_write(stream, res, redirect(ec));
    co_return;
  }
  // No length: the body is the relay's bytes for the browser, ended by closing the connection.
  static constexpr std::string_view kHeader =
      "HTTP/1.1 200 OK\r\nServer: ferry\r\nContent-Type: application/octet-stream\r\n"
      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n";
  stream.expires_after(std::chrono::seconds(5));
  co_await asio::async_write(stream, asio::buffer(kHeader), redirect(ec));
  stream.expires_never();
  if (ec) co_return;
  downloads_.attach(ticket, std::move(stream));  // when nobody waits any more, it just closes
}

std::string Server::metrics() const {
  return render_metrics(rendezvous_.stats(), relay_.stats(), counters_);
}

awaitable<void> Server::serve_http(AnyStream stream, beast::flat_buffer buffer,
                                   std::string address) {
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    parser.header_limit(16 * 1024);
    error_code ec;
    stream.expires_after(std::chrono::seconds(30));
    co_await http::async_read(stream, buffer, parser, redirect(ec));
    if (ec) co_return;
    auto req = parser.release();
    const std::string target(req.target());
    const std::string path = target.substr(0, target.find('?'));
    if (websocket::is_upgrade(req)) {
      if (path != "/v1/rendezvous" && path != "/v1/relay") {
        http::response<http::string_body> res{http::status::not_found, req.version()};
        res.body() = "no WebSocket endpoint here\n";
        res.prepare_payload();
        co_await http::async_write(stream, res, redirect(ec));
        co_return;
      }
      stream.expires_never();
      WebSocket ws(std::move(stream));
      if (path == "/v1/relay") {
        // ?down=<ticket>: the bytes for this browser leave as a GET's body (relay_link.hpp).
        constexpr std::string_view kDown = "?down=";
        std::shared_ptr<RelayDownloads::Slot> slot;
        if (target.size() > path.size()) {
          const std::string_view query = std::string_view(target).substr(path.size());
          if (query.substr(0, kDown.size()) == kDown) {
            const auto ex = co_await asio::this_coro::executor;  // not inside the call (g++ 12)
            slot = downloads_.open(query.substr(kDown.size()), ex);
          }
          if (!slot) {
            http::response<http::string_body> res{http::status::bad_request, req.version()};
            res.body() = "a relay download ticket is 32 lowercase hex digits, used once\n";
            res.prepare_payload();
            co_await http::async_write(ws.next_layer(), res, redirect(ec));
            co_return;
          }
        }
        ws.read_message_max(proto::kRelayMaxFrame + 64);
        ws.next_layer().expires_after(options_.relay.hello_timeout);
        co_await ws.async_accept(req, redirect(ec));
        if (ec) co_return;
        beast::flat_buffer hello;
        co_await ws.async_read(hello, redirect(ec));
        ws.next_layer().expires_never();
        if (ec) co_return;
        const auto* p = static_cast<const std::uint8_t*>(hello.data().data());
        const proto::Bytes bytes(p, p + hello.size());
        auto link = slot ? split_relay_link(std::move(ws), std::move(slot))
                         : websocket_relay_link(std::move(ws));
        co_return co_await relay_.handle(std::move(link), std::move(address), bytes);
      }
      ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
      ws.read_message_max(proto::kMaxRendezvousFrame);
      co_await ws.async_accept(req, redirect(ec));
      if (ec) co_return;
      auto conn = std::make_shared<RendezvousConnection>(std::move(ws), std::move(address),
                                                         rendezvous_, claims_, counters_,
                                                         options_.nameplate_ttl, stun_ports_);
      co_return co_await conn->run();
    }
    if (path.rfind(RelayDownloads::kPath, 0) == 0 && req.method() == http::verb::get) {
      co_return co_await serve_relay_download(
          std::move(stream), std::string_view(path).substr(RelayDownloads::kPath.size()),
          req.version());
    }
    const Page page = path == "/metrics"
                          ? Page{200, "text/plain; version=0.0.4; charset=utf-8", metrics()}
                          : page_for(target, options_.public_url);
    http::response<http::string_body> res{static_cast<http::status>(page.status), req.version()};
    res.set(http::field::content_type, page.content_type);
    res.set(http::field::server, "ferry");
    res.set(http::field::cache_control, "no-store");
    res.set("Content-Security-Policy", kContentSecurityPolicy);
    res.set("Referrer-Policy", "no-referrer");
    res.set("X-Content-Type-Options", "nosniff");
    res.keep_alive(req.keep_alive());
    if (req.method() != http::verb::head) res.body() = page.body;
    res.prepare_payload();
    co_await http::async_write(stream, res, redirect(ec));
    if (ec || !req.keep_alive()) co_return;
  }
}

}  // namespace ferry::server
