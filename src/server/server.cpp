#include "server/server.hpp"

#include <sys/socket.h>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>

#include <sodium.h>

#include "net/byte_stream.hpp"
#include "net/tcp.hpp"
#include "server/outgoing_frames.hpp"
#include "server/pages.hpp"
#include "server/server_log.hpp"
#include "server/wormhole_mailbox_socket.hpp"

namespace ferry::server {

using namespace net;
namespace http = beast::http;
namespace websocket = beast::websocket;

// The server's view of its connections: the table of limits (connection_table.hpp) and, for each
// connection, how to cut it (shutdown of its socket: pending reads end, the coroutine unwinds).
// Shared with every connection so that one outliving the server (at exit) unregisters safely.
class Server::Registry {
 public:
  explicit Registry(ConnectionLimits limits) : table(limits) {}
  ConnectionTable table;
  std::unordered_map<ConnectionTable::Id, int> sockets;  // native handles, to evict
  ServerCounters counters;
  // What one address's WebSockets may have queued for it, together: a flood of connections that
  // never read is cut off here, whatever the number of its connections.
  static constexpr std::size_t kQueuedPerAddress = std::size_t{4} << 20;
  std::unordered_map<std::string, std::weak_ptr<QueueBudget>> queue_budgets;
  std::size_t budgets_swept_ = 0;

  // Counts a refusal or a deadline under its reason and logs it (throttled: floods are summed).
  void refuse(std::string_view reason, const ClientAddress& client, std::string_view detail = {}) {
    const auto it = counters.refused.find(reason);
    if (it == counters.refused.end()) {
      counters.refused.emplace(std::string(reason), 1);
    } else {
      ++it->second;
    }
    const std::string key = "refused/" + std::string(reason);
    if (detail.empty()) {
      log_throttled(key, spdlog::level::warn, "refused",
                    {{"reason", reason}, {"client", client.ip}});
    } else {
      log_throttled(key, spdlog::level::warn, "refused",
                    {{"reason", reason}, {"client", client.ip}, {"detail", detail}});
    }
  }

  // Whether the client's address may try one more code now (--claims-per-minute); a refusal is
  // counted and logged.
  bool allow_code_try(AddressRateLimiter& claims, const ClientAddress& client) {
    if (claims.allow(client.group, AddressRateLimiter::Clock::now())) return true;
    ++counters.claims_refused;
    refuse("claim_rate", client);
    return false;
  }

  // The byte budget the outgoing queues of one address group share (outgoing_frames.hpp).
  std::shared_ptr<QueueBudget> queue_budget(const std::string& group) {
    auto& slot = queue_budgets[group];
    auto budget = slot.lock();
    if (!budget) {
      budget = std::make_shared<QueueBudget>(QueueBudget{0, kQueuedPerAddress});
      slot = budget;
    }
    if (queue_budgets.size() > 2 * budgets_swept_ + 64) {
      std::erase_if(queue_budgets, [](const auto& kv) { return kv.second.expired(); });
      budgets_swept_ = queue_budgets.size();
    }
    return budget;
  }

  void evict(ConnectionTable::Id id) {
    const auto it = sockets.find(id);
    if (it == sockets.end()) return;
    ::shutdown(it->second, SHUT_RDWR);
    sockets.erase(it);
    ++counters.evicted;
  }
};

struct Server::Connection {
  Connection(std::shared_ptr<Registry> r, ConnectionTable::Id i, ClientAddress c)
      : registry(std::move(r)), id(i), client(std::move(c)) {}
  ~Connection() {
    registry->table.remove(id);
    registry->sockets.erase(id);
  }
  void stage(ConnectionStage s) {
    registry->table.set_stage(id, s);
    if (!evictable(s)) registry->sockets.erase(id);  // its socket may now move anywhere
  }
  std::shared_ptr<Registry> registry;
  ConnectionTable::Id id;
  ClientAddress client;
  bool tunneled = false;  // carried by HTTPS requests (http_tunnel.hpp): no tunnel inside it
};

// One rendezvous client: reads frames into the Rendezvous, writes what it delivers in order.
namespace {
// The first bytes of a magic-wormhole transit relay request ("please relay ...").
constexpr std::string_view kTransitRelayStart = "plea";
// What one rendezvous connection's outgoing queue may hold: a few of the largest frames (a pair's
// messages go straight through; only a client that does not read lets them pile up).
constexpr std::size_t kRendezvousMaxQueued = 4 * proto::kMaxRendezvousFrame;
}  // namespace

class Server::RendezvousConnection : public Client,
                                     public std::enable_shared_from_this<RendezvousConnection> {
 public:
  RendezvousConnection(WebSocket ws, std::shared_ptr<Connection> conn,
                       RendezvousService& rendezvous, AddressRateLimiter& claims,
                       const ServerOptions& options, std::vector<std::uint16_t> stun_ports,
                       std::uint16_t relay_udp, bool page)
      : ws_(std::move(ws)),
        conn_(std::move(conn)),
        stun_ports_(std::move(stun_ports)),
        relay_udp_(relay_udp),
        rendezvous_(rendezvous),
        claims_(claims),
        out_(ws_, kRendezvousMaxQueued, conn_->registry->queue_budget(conn_->client.group)),
        ttl_(ws_.get_executor()),
        nameplate_ttl_(options.nameplate_ttl),
        unbound_timeout_(options.unbound_timeout),
        page_(page) {}

  std::string observed_address() const override { return conn_->client.ip; }
  std::string rate_group() const override { return conn_->client.group; }
  bool page() const override { return page_; }

  void deliver(const proto::ServerMessage& m) override {
    if (std::holds_alternative<proto::rv::Paired>(m)) {
      paired_ = true;
      ttl_.cancel();
      log_event(spdlog::level::info, "rendezvous_paired",
                {{"conn", conn_->id}, {"client", conn_->client.ip}});
    } else if (std::holds_alternative<proto::rv::Allocated>(m)) {
      log_event(spdlog::level::info, "rendezvous_allocated",
                {{"conn", conn_->id}, {"client", conn_->client.ip}});
    } else if (std::holds_alternative<proto::rv::Waiting>(m)) {
      log_event(spdlog::level::info, "rendezvous_receiver_waiting",
                {{"conn", conn_->id}, {"client", conn_->client.ip}});
    }
    out_.push(proto::encode_server(m));
  }

  void kick(std::string_view code, std::string_view reason) override {
    if (out_.closing()) return;
    log_throttled(std::string("rendezvous_closed/") + std::string(code), spdlog::level::info,
                  "rendezvous_closed",
                  {{"conn", conn_->id}, {"client", conn_->client.ip}, {"reason", code}});
    out_.push(proto::encode_server(proto::rv::ServerError{std::string(code), std::string(reason)}));
    // A close reason must fit in a control frame.
    out_.close(websocket::close_reason(websocket::close_code::policy_error,
                                       std::string(reason.substr(0, 120))));
  }

  awaitable<void> run() {
    auto self = shared_from_this();
    asio::co_spawn(ws_.get_executor(), writer(self), asio::detached);
    asio::co_spawn(ws_.get_executor(), expire(self), asio::detached);
    deliver(
        proto::rv::Welcome{proto::kRendezvousVersion, conn_->client.ip, stun_ports_, relay_udp_});
    beast::flat_buffer buffer;
    error_code ec;
    while (!out_.closing()) {
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
      const bool joins = !std::holds_alternative<proto::rv::Message>(*m);
      if (tries_a_code(*m) && !conn_->registry->allow_code_try(claims_, conn_->client)) {
        kick("limit", kTooManyCodes);
        break;
      }
      if (joins && !bound_) {
        bound_ = true;
        conn_->stage(ConnectionStage::rendezvous);
        ttl_.cancel();  // the unbound deadline; the code's own lifetime starts now
      }
      rendezvous_.on_message(*this, *m);
    }
    if (ec == websocket::error::message_too_big) {
      conn_->registry->refuse("message_too_large", conn_->client);
      kick("malformed", "message too large");
    }
    rendezvous_.on_disconnect(*this);
    done_ = true;
    out_.finish();
    ttl_.cancel();
  }

 private:
  awaitable<void> writer(std::shared_ptr<RendezvousConnection>) { co_await out_.write_all(); }

  // First the deadline for sending allocate or claim, then the code's lifetime.
  awaitable<void> expire(std::shared_ptr<RendezvousConnection>) {
    error_code ec;
    ttl_.expires_after(unbound_timeout_);
    co_await ttl_.async_wait(redirect(ec));
    if (done_) co_return;
    if (!ec) {
      conn_->registry->refuse("deadline_websocket_unbound", conn_->client);
      kick("timeout", "no code was allocated or claimed in time on this connection");
      co_return rendezvous_.on_disconnect(*this);
    }
    if (paired_) co_return;
    ttl_.expires_after(nameplate_ttl_);
    co_await ttl_.async_wait(redirect(ec));
    if (!ec && !done_) {
      kick("expired", "nobody used this code in time; start again for a new one");
      rendezvous_.on_disconnect(*this);
    }
  }

  WebSocket ws_;
  std::shared_ptr<Connection> conn_;
  std::vector<std::uint16_t> stun_ports_;
  std::uint16_t relay_udp_ = 0;
  RendezvousService& rendezvous_;
  AddressRateLimiter& claims_;
  OutgoingFrames out_;
  asio::steady_timer ttl_;
  std::chrono::seconds nameplate_ttl_;
  std::chrono::seconds unbound_timeout_;
  bool page_;
  bool bound_ = false;
  bool paired_ = false;
  bool done_ = false;
};

namespace {
proto::RelayKey relay_key(const std::optional<proto::RelayKey>& given) {
  if (given) return *given;
  proto::RelayKey k{};
  randombytes_buf(k.data(), k.size());
  return k;
}

// The origin (scheme://host[:port]) of a URL, lower-cased as browsers send it.
std::string origin_of(const std::string& url) {
  auto u = proto::parse_server_url(url);
  if (!u) return {};
  u->base_path.clear();
  return lowercase(u->to_string());
}

bool out_of_descriptors(const error_code& ec) {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory || ec.value() == ENFILE;
}
}  // namespace

Server::Server(asio::io_context& io, ServerOptions options)
    : io_(io),
      options_(std::move(options)),
      acceptor_(io),
      metrics_acceptor_(io),
      registry_(std::make_shared<Registry>(options_.connections)),
      connect_rate_(options_.connect_rate),
      relay_(options_.relay, relay_key(options_.relay_key)),
      wormhole_(options_.wormhole),
      tunnels_(io.get_executor()),
      claims_(options_.claims_per_minute) {
  if (options_.redis) {
    // A node of a cluster: grants for whichever relay of the pool the pair is sent to (signed
    // with the key the pool shares).
    ClusterOptions c{*options_.redis,
                     options_.rendezvous,
                     options_.nameplate_ttl,
                     options_.claims_per_minute,
                     [this] { return relay_.stats().active + relay_.stats().waiting; },
                     std::chrono::milliseconds(1000)};
    auto cluster = std::make_unique<ClusterRendezvous>(
        io_.get_executor(), std::move(c),
        [this](const proto::Bytes& session) { return relay_.issue_grant(session); });
    cluster_ = cluster.get();
    rendezvous_ = std::move(cluster);
  } else {
    rendezvous_ =
        std::make_unique<Rendezvous>(options_.rendezvous, [this](const proto::Bytes& session) {
          return options_.relay_enabled ? relay_.issue_grant(session) : proto::Bytes{};
        });
  }
}

Server::~Server() = default;

proto::Result<void> Server::reload_tls() {
  if (options_.tls_cert.empty() || options_.tls_key.empty()) {
    if (options_.tls_cert.empty() && options_.tls_key.empty()) return {};
    return proto::fail(proto::Errc::usage, "--tls-cert and --tls-key go together");
  }
  auto tls = tls_server_context(options_.tls_cert, options_.tls_key);
  if (!tls) return std::unexpected(tls.error());
  tls_ = std::move(*tls);  // connections under way keep the context they started with
  return {};
}

proto::Result<void> Server::start() {
  if (auto r = reload_tls(); !r) return r;
  const auto listen = [](tcp::acceptor& a, const tcp::endpoint& ep) -> proto::Result<void> {
    error_code ec;
    a.open(ep.protocol(), ec);
    if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) a.bind(ep, ec);
    if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return proto::fail(proto::Errc::usage, "cannot listen on " + ep.address().to_string() + ":" +
                                                 std::to_string(ep.port()) + ": " + ec.message());
    }
    return {};
  };
  if (auto r = listen(acceptor_, options_.listen); !r) return r;
  if (options_.metrics_listen) {
    if (auto r = listen(metrics_acceptor_, *options_.metrics_listen); !r) return r;
  }
  const bool explicit_public_url = !options_.public_url.empty();
  if (!explicit_public_url) {
    const auto ep = acceptor_.local_endpoint();
    const auto a = ep.address();
    const std::string host = a.is_unspecified() ? "127.0.0.1"
                             : a.is_v6()        ? "[" + a.to_string() + "]"
                                                : a.to_string();
    options_.public_url =
        std::string(tls_ ? "https://" : "http://") + host + ":" + std::to_string(ep.port());
  }
  origin_ = origin_of(options_.public_url);
  origin_from_host_ = !explicit_public_url;
  if (options_.stun) {
    const std::uint16_t tcp_port = acceptor_.local_endpoint().port();
    std::array<std::uint16_t, 2> ports = options_.stun_ports;
    if (ports[0] == 0) ports[0] = tcp_port;
    if (ports[1] == 0 && ports[0] < 65535) ports[1] = static_cast<std::uint16_t>(ports[0] + 1);
    stun_ = std::make_unique<StunResponder>(io_, options_.listen.address(), ports,
                                            options_.stun_alternate_ip, options_.stun_rate);
    auto started = stun_->start();
    if (!started && options_.stun_ports == std::array<std::uint16_t, 2>{0, 0}) {
      // The ports beside the TCP port are taken (an ephemeral TCP port): any free ones will do.
      stun_ = std::make_unique<StunResponder>(io_, options_.listen.address(),
                                              std::array<std::uint16_t, 2>{0, 0},
                                              options_.stun_alternate_ip, options_.stun_rate);
      started = stun_->start();
    }
    if (!started) return started;
    const auto bound = stun_->ports();
    stun_ports_.assign(bound.begin(), bound.end());
  }
  if (options_.relay_enabled && options_.relay_udp) {
    std::uint16_t port = options_.relay_udp_port;
    if (port == 0) {
      const std::uint16_t after = stun_ports_.empty() ? acceptor_.local_endpoint().port()
                                                      : std::max(stun_ports_[0], stun_ports_[1]);
      port = after < 65535 ? static_cast<std::uint16_t>(after + 1) : 0;
    }
    udp_relay_ = std::make_unique<UdpRelay>(io_, options_.listen.address(), port, options_.relay,
                                            relay_.key());
    auto started = udp_relay_->start();
    if (!started && options_.relay_udp_port == 0) {
      // Taken (beside an ephemeral TCP port): any free one will do; clients hear which.
      udp_relay_ = std::make_unique<UdpRelay>(io_, options_.listen.address(), 0, options_.relay,
                                              relay_.key());
      started = udp_relay_->start();
    }
    if (!started) return started;
  }
  if (cluster_ != nullptr) {
    const std::string& relay =
        options_.relay_url.empty() ? options_.public_url : options_.relay_url;
    cluster_->start(options_.relay_enabled ? relay : std::string(), relay_udp_port());
  }
  asio::co_spawn(io_, accept_loop(acceptor_, Port::main), asio::detached);
  if (options_.metrics_listen) {
    asio::co_spawn(io_, accept_loop(metrics_acceptor_, Port::metrics), asio::detached);
  }
  const auto ep = acceptor_.local_endpoint();
  log_event(spdlog::level::info, "started",
            {{"listen", ep.address().to_string() + ":" + std::to_string(ep.port())},
             {"public_url", options_.public_url},
             {"max_connections", options_.connections.total},
             {"per_address", options_.connections.per_group},
             {"tls", tls_ != nullptr},
             {"relay", options_.relay_enabled},
             {"cluster", cluster_ != nullptr ? options_.redis->to_string() : "no"}});
  return {};
}

tcp::endpoint Server::local_endpoint() const {
  return acceptor_.local_endpoint();
}

std::optional<tcp::endpoint> Server::metrics_endpoint() const {
  if (!metrics_acceptor_.is_open()) return std::nullopt;
  return metrics_acceptor_.local_endpoint();
}

void Server::refused(std::string_view reason, const ClientAddress& client,
                     std::string_view detail) {
  registry_->refuse(reason, client, detail);
}

awaitable<void> Server::accept_loop(tcp::acceptor& acceptor, Port port) {
  // Out of descriptors, accept fails at once for as long as the backlog holds connections: wait,
  // longer each time (no spin), until connections ending free some.
  constexpr auto kFirstBackoff = std::chrono::milliseconds(10);
  constexpr auto kMaxBackoff = std::chrono::milliseconds(1000);
  auto backoff = kFirstBackoff;
  asio::steady_timer pause(io_);
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(redirect(ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      if (out_of_descriptors(ec)) {
        ++registry_->counters.refused["accept_no_descriptors"];
        log_throttled("accept", spdlog::level::err, "accept_failed",
                      {{"error", ec.message()},
                       {"backoff_ms", std::chrono::milliseconds(backoff).count()},
                       {"connections", registry_->table.size()}});
        pause.expires_after(backoff);
        co_await pause.async_wait(redirect(ec));
        backoff = std::min(backoff * 2, std::chrono::duration_cast<decltype(backoff)>(kMaxBackoff));
      }
      continue;  // e.g. a connection reset while queued: the next one
    }
    backoff = kFirstBackoff;
    admit(std::move(socket), port);
  }
}

void Server::admit(tcp::socket socket, Port port) {
  error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) return;
  auto conn = admit_client(client_address(peer.address()), socket.native_handle());
  if (!conn) return;  // the socket closes on scope exit
  if (port == Port::metrics) {
    conn->stage(ConnectionStage::http);
    asio::co_spawn(io_,
                   serve_http(AnyStream(beast::tcp_stream(std::move(socket))), {}, std::move(conn),
                              Port::metrics),
                   asio::detached);
    return;
  }
  asio::co_spawn(io_, handle(std::move(socket), std::move(conn)), asio::detached);
}

std::shared_ptr<Server::Connection> Server::admit_client(ClientAddress client, int handle) {
  auto& registry = *registry_;
  if (connect_rate_.take(client.group, RateBuckets::Clock::now()) != RateBuckets::Verdict::allow) {
    ++registry.counters.connections_refused;
    refused(refusal_name(Refusal::address_rate), client);
    return nullptr;
  }
  const auto admission = registry.table.admit(client.group);
  if (!admission.id) {
    ++registry.counters.connections_refused;
    refused(refusal_name(admission.refused), client);
    return nullptr;
  }
  if (admission.evicted) {
    registry.evict(*admission.evicted);
    log_throttled("evicted", spdlog::level::warn, "evicted",
                  {{"reason", "server_full"}, {"for_client", client.ip}});
  }
  registry.sockets[*admission.id] = handle;
  return std::make_shared<Connection>(registry_, *admission.id, std::move(client));
}

awaitable<void> Server::handle(tcp::socket socket, std::shared_ptr<Connection> conn) {
  error_code ec;
  tune_for_bulk(socket);
  beast::tcp_stream stream(std::move(socket));
  std::array<std::uint8_t, 4> first{};
  stream.expires_after(options_.handshake_timeout);
  co_await asio::async_read(stream, asio::buffer(first), redirect(ec));
  stream.expires_never();
  if (ec == beast::error::timeout) refused("deadline_handshake", conn->client);
  if (ec) co_return;
  constexpr std::uint8_t kTlsHandshake = 0x16;
  if (first[0] != kTlsHandshake || !tls_) {
    co_return co_await dispatch(AnyStream(std::move(stream)), first, std::move(conn));
  }
  const auto started = std::chrono::steady_clock::now();
  const std::chrono::milliseconds budget = options_.handshake_timeout;
  auto tls = co_await accept_tls(std::move(stream), tls_, asio::buffer(first), budget);
  if (!tls) {
    const bool late = std::chrono::steady_clock::now() - started >= budget;
    refused(late ? "deadline_tls" : "tls_failed", conn->client);
    co_return;
  }
  tls->expires_after(options_.handshake_timeout);
  co_await asio::async_read(*tls, asio::buffer(first), redirect(ec));
  tls->expires_never();
  if (ec == beast::error::timeout) refused("deadline_handshake", conn->client);
  if (ec) co_return;
  co_await dispatch(std::move(*tls), first, std::move(conn));
}

awaitable<void> Server::dispatch(AnyStream stream, std::array<std::uint8_t, 4> first,
                                 std::shared_ptr<Connection> conn) {
  if (std::equal(first.begin(), first.end(), proto::kRelayMagic.begin())) {
    conn->stage(ConnectionStage::relay_hello);
    std::array<std::uint8_t, proto::kRelayHelloBytes> hello{};
    std::copy(first.begin(), first.end(), hello.begin());
    error_code ec;
    stream.expires_after(options_.relay.hello_timeout);
    co_await asio::async_read(stream, asio::buffer(hello.data() + 4, hello.size() - 4),
                              redirect(ec));
    stream.expires_never();
    if (ec == beast::error::timeout) refused("deadline_relay_hello", conn->client);
    if (ec) co_return;
    conn->stage(ConnectionStage::relay);
    auto link = raw_relay_link(std::move(stream));
    link->hold(conn);
    co_return co_await relay_.handle(std::move(link), conn->client, hello);
  }
  if (std::equal(first.begin(), first.end(), kTransitRelayStart.begin())) {
    co_return co_await serve_transit_relay(std::move(stream), first, std::move(conn));
  }
  conn->stage(ConnectionStage::http);
  beast::flat_buffer buffer;
  auto space = buffer.prepare(first.size());
  std::memcpy(space.data(), first.data(), first.size());
  buffer.commit(first.size());
  co_await serve_http(std::move(stream), std::move(buffer), std::move(conn), Port::main);
}

awaitable<void> Server::serve_transit_relay(AnyStream stream, std::array<std::uint8_t, 4> first,
                                            std::shared_ptr<Connection> conn) {
  conn->stage(ConnectionStage::relay_hello);
  std::string line(first.begin(), first.end());
  error_code ec;
  stream.expires_after(options_.relay.hello_timeout);
  // The line and nothing after it: the client waits for "ok" before it sends more.
  for (char c = 0; c != '\n' && line.size() <= proto::kMaxTransitRelayLine;) {
    co_await asio::async_read(stream, asio::buffer(&c, 1), redirect(ec));
    if (ec) break;
    line += c;
  }
  stream.expires_never();
  if (ec == beast::error::timeout) refused("deadline_relay_hello", conn->client);
  if (ec) co_return;
  auto request =
      proto::parse_transit_relay_request(std::string_view(line).substr(0, line.size() - 1));
  if (!line.ends_with('\n') || !request) {
    refused("transit_bad_handshake", conn->client);
    constexpr std::string_view kBad = "bad handshake\n";
    stream.expires_after(std::chrono::seconds(5));
    co_await asio::async_write(stream, asio::buffer(kBad), redirect(ec));
    co_return;
  }
  conn->stage(ConnectionStage::relay);
  auto link = transit_relay_link(std::move(stream));
  link->hold(conn);
  co_await relay_.handle_transit(std::move(link), conn->client, std::move(*request));
}

awaitable<void> Server::serve_relay_download(AnyStream stream, std::string_view ticket,
                                             unsigned version, bool cors,
                                             std::shared_ptr<Connection> conn) {
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
  // A cluster's page fetches it from another node's origin (its relay URL): that node lets the
  // cluster's public origin read it.
  const std::string header =
      "HTTP/1.1 200 OK\r\nServer: ferry\r\nContent-Type: application/octet-stream\r\n"
      "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n" +
      (cors ? "Access-Control-Allow-Origin: " + origin_ + "\r\nVary: Origin\r\n" : std::string()) +
      "Connection: close\r\n\r\n";
  stream.expires_after(std::chrono::seconds(5));
  co_await asio::async_write(stream, asio::buffer(header), redirect(ec));
  stream.expires_never();
  if (ec) co_return;
  // When nobody waits any more, it just closes.
  downloads_.attach(ticket, std::move(stream), std::move(conn));
}

std::string Server::content_security_policy() const {
  std::string csp(kContentSecurityPolicy);
  if (cluster_ == nullptr) return csp;
  // A page of a cluster relays through its rendezvous node's own URL (cluster.hpp), another
  // origin, which may be any node's: every relay in the pool may be connected to.
  std::string extra;
  for (const auto& url : cluster_->relay_urls()) {
    const std::string origin = origin_of(url);
    if (origin.empty() || origin == origin_ ||
        extra.find(" " + origin + " ") != std::string::npos) {
      continue;
    }
    extra +=
        " " + origin + " " +
        (origin.starts_with("https://") ? "wss://" + origin.substr(8) : "ws://" + origin.substr(7));
  }
  const std::string marker = "connect-src 'self'";
  csp.insert(csp.find(marker) + marker.size(), extra);
  return csp;
}

std::pair<bool, std::string> Server::health() const {
  if (cluster_ != nullptr && !cluster_->ready()) {
    return {false, "not ready: " + cluster_->not_ready_reason() + "\n"};
  }
  return {true, "ok\n"};
}

std::string Server::metrics() const {
  ServerCounters counters = registry_->counters;
  counters.connections = registry_->table.size();
  counters.by_stage = registry_->table.by_stage();
  return render_metrics(rendezvous_->stats(), relay_.stats(), counters,
                        stun_ ? stun_->stats() : StunStats{}) +
         render_udp_relay_metrics(udp_relay_ ? udp_relay_->stats() : UdpRelayStats{}) +
         render_wormhole_metrics(wormhole_.stats());
}

namespace {
http::response<http::string_body> plain_response(http::status status, unsigned version,
                                                 std::string body) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.set(http::field::server, "ferry");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}
}  // namespace

awaitable<void> Server::serve_http(AnyStream stream, beast::flat_buffer buffer,
                                   std::shared_ptr<Connection> conn, Port port) {
  // A tunnel's requests (http_tunnel.hpp) are not counted: its token bounds them.
  for (std::size_t served = 0; served < options_.requests_per_connection;) {
    // Bodies up to 64 KiB, but a tunnel's uploads (http_tunnel.hpp) up to kTunnelMaxBody. Beast
    // checks a Content-Length against the limit as the header ends: the larger one until then.
    constexpr std::uint64_t kMaxBody = std::uint64_t{64} * 1024;
    http::request_parser<http::string_body> parser;
    parser.body_limit(proto::kTunnelMaxBody);
    parser.header_limit(8 * 1024);
    error_code ec;
    // One deadline for the whole request (a slow trickle of headers gains nothing) and for the
    // wait for the next request on a kept-alive connection.
    stream.expires_after(options_.request_timeout);
    co_await http::async_read_header(stream, buffer, parser, redirect(ec));
    if (!ec && !(port == Port::main && parser.get().method() == http::verb::post &&
                 parser.get().target().starts_with(std::string(proto::kTunnelPath) + "/"))) {
      if (parser.content_length().value_or(0) > kMaxBody) ec = http::error::body_limit;
      parser.body_limit(kMaxBody);  // a chunked body counts as it comes
    }
    if (!ec) co_await http::async_read(stream, buffer, parser, redirect(ec));
    if (ec == beast::error::timeout) {
      // Idle between requests is the usual end of a kept-alive connection, not an attack.
      if (parser.got_some() || served == 0) refused("deadline_request", conn->client);
      co_return;
    }
    if (ec == http::error::header_limit) refused("header_too_large", conn->client);
    if (ec == http::error::body_limit) refused("body_too_large", conn->client);
    if (ec) co_return;
    auto req = parser.release();
    Dispatch d = dispatch_request(req, {.metrics_port = port == Port::metrics,
                                        .metrics_elsewhere = options_.metrics_listen.has_value(),
                                        .origin = origin_,
                                        .origin_from_host = origin_from_host_});
    const Route to = d.route;
    const std::string& target = d.target;
    const std::string& path = d.path;
    if (to == Route::rendezvous || to == Route::relay || to == Route::wormhole_mailbox ||
        to == Route::websocket_not_found) {
      stream.expires_never();
      co_return co_await serve_websocket(std::move(stream), std::move(req), std::move(d),
                                         std::move(conn));
    }
    if (to == Route::relay_download) {
      conn->stage(ConnectionStage::download);
      co_return co_await serve_relay_download(std::move(stream), d.ticket, req.version(), d.cors,
                                              std::move(conn));
    }
    if (to == Route::tunnel_open || to == Route::tunnel) {
      stream.expires_never();  // a GET's hold and an upload's back-pressure have their own
      auto res = co_await serve_tunnel(req, d, conn);
      res.keep_alive(req.keep_alive());
      stream.expires_after(options_.request_timeout);
      co_await http::async_write(stream, res, redirect(ec));
      if (ec || !req.keep_alive()) co_return;
      if (to == Route::tunnel_open) ++served;
      continue;
    }
    ++served;
    if (to == Route::upgrade_missing) {
      // Said so that a client (net/websocket_client.cpp) can tell the person what happened.
      auto res = plain_response(
          http::status::upgrade_required, req.version(),
          "ferry: " + std::string(path.substr(0, 64)) +
              " is a WebSocket endpoint, and this request came without its Upgrade header: a "
              "proxy on the way may have removed it\n");
      res.set(http::field::upgrade, "websocket");
      res.set(proto::kRefusalHeader, proto::kUpgradeMissing);
      res.keep_alive(req.keep_alive());
      co_await http::async_write(stream, res, redirect(ec));
      if (ec || !req.keep_alive()) co_return;
      continue;
    }
    const auto [healthy, health_text] = health();
    if (port == Port::metrics) {
      auto res =
          plain_response(to == Route::metrics_not_found     ? http::status::not_found
                         : to == Route::healthz && !healthy ? http::status::service_unavailable
                                                            : http::status::ok,
                         req.version(),
                         to == Route::metrics   ? metrics()
                         : to == Route::healthz ? health_text
                                                : "only /metrics and /healthz here\n");
      if (to == Route::metrics) {
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      }
      res.keep_alive(req.keep_alive());
      co_await http::async_write(stream, res, redirect(ec));
      if (ec || !req.keep_alive()) co_return;
      continue;
    }
    const Page page =
        to == Route::metrics ? Page{200, "text/plain; version=0.0.4; charset=utf-8", metrics()}
        // Public: why it is not ready stays on the metrics port and in the log (it names
        // internal addresses).
        : path == "/healthz"
            ? Page{healthy ? 200 : 503, "text/plain; charset=utf-8",
                   healthy ? health_text
                           : "not ready: the server's shared state is unavailable; try again "
                             "soon\n"}
            : page_for(target, options_.public_url);
    http::response<http::string_body> res{static_cast<http::status>(page.status), req.version()};
    res.set(http::field::content_type, page.content_type);
    res.set(http::field::server, "ferry");
    res.set(http::field::cache_control, "no-store");
    res.set("Content-Security-Policy", content_security_policy());
    res.set("Referrer-Policy", "no-referrer");
    res.set("X-Content-Type-Options", "nosniff");
    res.keep_alive(req.keep_alive());
    if (req.method() != http::verb::head) res.body() = page.body;
    res.prepare_payload();
    co_await http::async_write(stream, res, redirect(ec));
    if (ec || !req.keep_alive()) co_return;
  }
}

awaitable<http::response<http::string_body>> Server::serve_tunnel(
    const http::request<http::string_body>& req, const Dispatch& d,
    const std::shared_ptr<Connection>& conn) {
  const auto answer = [&](http::status status, std::string body) {
    auto res = plain_response(status, req.version(), std::move(body));
    if (d.page && same_origin(d.origin, origin_)) {
      res.set(http::field::access_control_allow_origin, origin_);
      res.set(http::field::vary, "Origin");
    }
    return res;
  };
  if (conn->tunneled) {
    co_return answer(http::status::bad_request, "no tunnel inside a tunnel\n");
  }
  if (d.route == Route::tunnel) {
    const auto target = proto::parse_tunnel_target(d.target);
    if (!target ||
        (target->direction == proto::TunnelDirection::up) != (req.method() == http::verb::post)) {
      co_return answer(http::status::bad_request,
                       "a tunnel request is POST .../up/<offset> or GET .../down/<offset>\n");
    }
    const TunnelAnswer a = co_await tunnels_.serve(*target, req.body());
    auto res = answer(static_cast<http::status>(a.status), a.body);
    if (a.status == 200) res.set(http::field::content_type, "application/octet-stream");
    if (a.status == 204) res.body().clear();
    res.prepare_payload();
    co_return res;
  }
  if (d.refusal == RequestRefusal::cross_origin) {
    refused("cross_origin", conn->client, d.origin);
    co_return answer(http::status::forbidden,
                     "tunnels are opened only from this server's own pages\n");
  }
  if (draining_) {
    co_return answer(http::status::service_unavailable,
                     "this server is shutting down; try again in a moment\n");
  }
  // The connection inside is one end of a socket pair, admitted and served like any accepted
  // connection (its limits, deadlines and eviction included); the tunnel holds the other end.
  std::array<int, 2> fds{};
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds.data()) != 0) {
    co_return answer(http::status::service_unavailable, "the server is out of resources\n");
  }
  error_code ec;
  tcp::socket inner(io_);
  inner.assign(tcp::v4(), fds[0], ec);
  asio::local::stream_protocol::socket pump(io_);
  if (!ec) pump.assign(asio::local::stream_protocol(), fds[1], ec);
  if (ec) {
    if (!inner.is_open()) ::close(fds[0]);
    if (!pump.is_open()) ::close(fds[1]);
    co_return answer(http::status::service_unavailable, "the server is out of resources\n");
  }
  auto inner_conn = admit_client(conn->client, fds[0]);
  if (!inner_conn) {
    co_return answer(http::status::service_unavailable,
                     "too many connections from your address; try again in a moment\n");
  }
  inner_conn->tunneled = true;
  std::string token = tunnels_.open(std::move(pump), registry_->queue_budget(conn->client.group));
  if (token.empty()) {
    co_return answer(http::status::service_unavailable, "the server is out of resources\n");
  }
  asio::co_spawn(io_, handle(std::move(inner), std::move(inner_conn)), asio::detached);
  co_return answer(http::status::ok, std::move(token));
}

awaitable<void> Server::serve_websocket(AnyStream stream, http::request<http::string_body> req,
                                        Dispatch d, std::shared_ptr<Connection> conn) {
  error_code ec;
  if (d.route == Route::websocket_not_found) {
    auto res =
        plain_response(http::status::not_found, req.version(), "no WebSocket endpoint here\n");
    co_await http::async_write(stream, res, redirect(ec));
    co_return;
  }
  if (d.refusal == RequestRefusal::cross_origin) {
    refused("cross_origin", conn->client, d.origin);
    auto res = plain_response(http::status::forbidden, req.version(),
                              "WebSocket connections are accepted only from this server's own "
                              "pages\n");
    co_await http::async_write(stream, res, redirect(ec));
    co_return;
  }
  if (draining_) {
    auto res = plain_response(http::status::service_unavailable, req.version(),
                              "this server is shutting down; try again in a moment\n");
    co_await http::async_write(stream, res, redirect(ec));
    co_return;
  }
  WebSocket ws(std::move(stream));
  if (d.route == Route::relay) {
    conn->stage(ConnectionStage::relay_hello);
    // ?down=<ticket>: the bytes for this browser leave as a GET's body (relay_link.hpp).
    std::shared_ptr<RelayDownloads::Slot> slot;
    if (d.refusal == RequestRefusal::none && !d.ticket.empty()) {
      const auto ex = co_await asio::this_coro::executor;  // not inside the call (g++ 12)
      slot = downloads_.open(d.ticket, ex);
    }
    if (d.refusal == RequestRefusal::bad_ticket || (!d.ticket.empty() && !slot)) {
      auto res = plain_response(http::status::bad_request, req.version(),
                                "a relay download ticket is 32 lowercase hex digits, used once\n");
      co_await http::async_write(ws.next_layer(), res, redirect(ec));
      co_return;
    }
    ws.read_message_max(proto::kRelayMaxFrame + 64);
    ws.next_layer().expires_after(options_.relay.hello_timeout);
    co_await ws.async_accept(req, redirect(ec));
    if (ec == beast::error::timeout) refused("deadline_relay_hello", conn->client);
    if (ec) co_return;
    beast::flat_buffer hello;
    co_await ws.async_read(hello, redirect(ec));
    ws.next_layer().expires_never();
    if (ec == beast::error::timeout) refused("deadline_relay_hello", conn->client);
    if (ec) co_return;
    conn->stage(ConnectionStage::relay);
    const auto* p = static_cast<const std::uint8_t*>(hello.data().data());
    const proto::Bytes bytes(p, p + hello.size());
    auto link = slot ? split_relay_link(std::move(ws), std::move(slot))
                     : websocket_relay_link(std::move(ws));
    link->hold(conn);
    co_return co_await relay_.handle(std::move(link), conn->client, bytes);
  }
  conn->stage(ConnectionStage::websocket_unbound);
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  if (d.route == Route::wormhole_mailbox) {
    ws.read_message_max(kWormholeMaxFrame);
    ws.next_layer().expires_after(options_.request_timeout);
    co_await ws.async_accept(req, redirect(ec));
    ws.next_layer().expires_never();
    if (ec) co_return;
    // Evictable and on the unbound deadline until it holds a nameplate or a mailbox.
    WormholeConnection how;
    how.hold_within = options_.unbound_timeout;
    how.pair_within = options_.nameplate_ttl;
    if (options_.relay.max_duration.count() > 0) how.stay_at_most = options_.relay.max_duration;
    how.address_queues = conn->registry->queue_budget(conn->client.group);
    how.on_holding = [conn] { conn->stage(ConnectionStage::rendezvous); };
    how.may_try_a_code = [this, conn] {
      return conn->registry->allow_code_try(claims_, conn->client);
    };
    how.on_deadline = [conn](std::string_view why) { conn->registry->refuse(why, conn->client); };
    co_return co_await serve_wormhole_mailbox(std::move(ws), wormhole_, std::move(how));
  }
  ws.read_message_max(proto::kMaxRendezvousFrame);
  ws.next_layer().expires_after(options_.request_timeout);
  co_await ws.async_accept(req, redirect(ec));
  ws.next_layer().expires_never();
  if (ec) co_return;
  // Browsers always send Origin (checked above); programs send none.
  auto rc = std::make_shared<RendezvousConnection>(std::move(ws), conn, *rendezvous_, claims_,
                                                   options_, stun_ports_, relay_udp_port(), d.page);
  co_return co_await rc->run();
}

awaitable<void> Server::drain(std::chrono::seconds drain) {
  draining_ = true;
  error_code ec;
  acceptor_.close(ec);
  metrics_acceptor_.close(ec);
  if (stun_) stun_->stop();
  if (cluster_ != nullptr) cluster_->stop();  // out of the relay pool at once
  const auto deadline = std::chrono::steady_clock::now() + drain;
  // Transfers under way; a peer still waiting for its partner would be cut anyway.
  // Over UDP: sessions still forwarding (the relay cannot see a QUIC connection close).
  auto busy = [this] {
    return relay_.stats().active + (udp_relay_ ? udp_relay_->forwarding() : 0);
  };
  log_event(spdlog::level::info, "draining",
            {{"relay_sessions", busy()},
             {"connections", registry_->table.size()},
             {"drain_seconds", drain.count()}});
  asio::steady_timer tick(io_);
  while (busy() > 0 && std::chrono::steady_clock::now() < deadline) {
    tick.expires_after(std::chrono::milliseconds(100));
    co_await tick.async_wait(redirect(ec));
  }
  log_event(spdlog::level::info, "stopped",
            {{"relay_sessions_cut", busy()}, {"connections", registry_->table.size()}});
}

}  // namespace ferry::server
