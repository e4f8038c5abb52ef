#include "cli/serve.hpp"

#include <sys/resource.h>

#include <boost/asio/signal_set.hpp>
#include <fstream>
#include <iostream>

#include "cli/exit_codes.hpp"
#include "server/server_log.hpp"

namespace ferry::cli {

namespace {

namespace asio = boost::asio;
using proto::Errc;

proto::Result<net::tcp::endpoint> parse_listen(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos)
    return proto::fail(Errc::usage, "--listen takes ADDRESS:PORT, e.g. 0.0.0.0:4300");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(host, ec);
  int port = -1;
  try {
    std::size_t used = 0;
    port = std::stoi(text.substr(colon + 1), &used);
    if (used != text.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
  }
  if (ec || port < 0 || port > 65535) {
    return proto::fail(Errc::usage,
                       "--listen \"" + text + "\" is not ADDRESS:PORT, e.g. 0.0.0.0:4300");
  }
  return net::tcp::endpoint(addr, static_cast<std::uint16_t>(port));
}

// --relay-key-file: 64 hex digits, the key a pool of servers shares to sign and check grants.
proto::Result<proto::RelayKey> read_relay_key(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return proto::fail(Errc::usage, "--relay-key-file: cannot read " + path);
  const auto bytes = proto::from_hex(text);
  proto::RelayKey key{};
  if (!bytes || bytes->size() != key.size()) {
    return proto::fail(Errc::usage, "--relay-key-file: " + path +
                                        " must hold 64 hex digits (e.g. from `openssl rand -hex "
                                        "32`)");
  }
  std::copy(bytes->begin(), bytes->end(), key.begin());
  return key;
}

// Raises the soft limit on open descriptors to the hard one (each connection is one); returns the
// limit now in force.
std::size_t raise_descriptor_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  if (r.rlim_cur < r.rlim_max) {
    rlimit want = r;
    want.rlim_cur = r.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) r = want;
  }
  constexpr rlim_t kPlenty = rlim_t{1} << 20;
  return static_cast<std::size_t>(r.rlim_cur == RLIM_INFINITY ? kPlenty
                                                              : std::min(r.rlim_cur, kPlenty));
}

// The connection caps: in all, safely below the descriptor limit (the rest is for listeners,
// STUN, the event loop and the process itself) unless the operator asks for more; per address
// group, a sixteenth of that (at least 4, at most 1024: an office behind one address runs many
// transfers), so no single address can fill the server.
server::ConnectionLimits connection_limits(std::size_t descriptors, std::size_t asked_total,
                                           std::size_t asked_per_address) {
  constexpr std::size_t kDefaultTotal = 20'000;
  const std::size_t reserve = std::max<std::size_t>(32, descriptors / 10);
  const std::size_t ceiling = descriptors > reserve + 8 ? descriptors - reserve : 8;
  server::ConnectionLimits l;
  l.total = asked_total != 0 ? asked_total : std::min(kDefaultTotal, ceiling);
  if (asked_total > ceiling) {
    // Kept as asked: past the descriptor limit, accept fails and backs off until some close.
    server::log_event(spdlog::level::warn, "max_connections_above_descriptor_limit",
                      {{"max_connections", asked_total}, {"descriptor_limit", descriptors}});
  }
  l.per_group =
      asked_per_address != 0 ? asked_per_address : std::clamp<std::size_t>(l.total / 16, 4, 1024);
  return l;
}

std::chrono::seconds seconds_or(std::int64_t given, std::chrono::seconds fallback) {
  return given > 0 ? std::chrono::seconds(given) : fallback;
}

}  // namespace

CLI::App* add_serve_command(CLI::App& app, ServeFlags& f) {
  auto& o = f.options;
  auto& relay_limits = o.relay;
  f.max_duration = relay_limits.max_duration.count();
  f.peer_wait = relay_limits.wait_for_peer.count();
  f.handshake_timeout = o.handshake_timeout.count();
  f.request_timeout = o.request_timeout.count();
  f.unbound_timeout = o.unbound_timeout.count();
  f.code_ttl = o.nameplate_ttl.count();
  f.relay_hello_timeout = relay_limits.hello_timeout.count();
  auto* serve_cmd = app.add_subcommand("serve", "Run the rendezvous and relay server");
  serve_cmd->add_option("--listen", f.listen, "ADDRESS:PORT to listen on")->capture_default_str();
  serve_cmd->add_option("--public-url", o.public_url,
                        "The URL clients use to reach this server (and the only origin whose "
                        "pages may open its WebSockets)");
  serve_cmd
      ->add_option("--claims-per-minute", o.claims_per_minute,
                   "Codes one address may try per minute (each try burns a code)")
      ->capture_default_str();
  serve_cmd->add_option("--code-ttl", f.code_ttl, "Seconds a code waits for its receiver")
      ->capture_default_str();
  serve_cmd->add_option("--tls-cert", o.tls_cert,
                        "PEM certificate chain: also speak TLS (https, wss) on the port; "
                        "SIGHUP reads it again");
  serve_cmd->add_option("--tls-key", o.tls_key, "PEM private key of --tls-cert");
  serve_cmd->add_flag("--no-stun", f.no_stun, "Run no STUN responder on UDP");
  serve_cmd->add_option("--stun-port", o.stun_ports[0],
                        "UDP port of the STUN responder (default: the TCP port)");
  serve_cmd->add_option("--stun-alt-port", o.stun_ports[1],
                        "Its second UDP port (default: the next one)");
  serve_cmd->add_option("--stun-alternate-ip", f.stun_alternate_ip,
                        "A second address of this host: STUN answers from it too, so clients "
                        "can tell their NAT's filtering apart fully");
  serve_cmd
      ->add_option("--stun-rate-per-address", o.stun_rate.per_second,
                   "STUN answers a second to one address (bursts of twice that)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--stun-rate", o.stun_rate.total_per_second,
                   "STUN answers a second in all (caps what the server can be made to send)")
      ->capture_default_str();
  serve_cmd->add_flag("--no-relay", f.no_relay,
                      "Introduce peers only: carry no bytes (peers without a direct path fail)");
  serve_cmd->add_flag("--no-relay-udp", f.no_relay_udp,
                      "Relay over TCP only: no relay over UDP (QUIC between the peers through it)");
  serve_cmd->add_option("--relay-udp-port", o.relay_udp_port,
                        "UDP port of the relay over UDP (default: the one after the STUN ports)");
  serve_cmd->add_option("--redis", f.redis,
                        "Run as one node of a cluster: the rendezvous state in this Redis "
                        "(redis://[:password@]host[:port][/db], rediss:// for TLS), shared by "
                        "every node; needs --relay-key-file");
  serve_cmd->add_option("--relay-url", o.relay_url,
                        "With --redis: this node's own URL, where peers of any node reach its "
                        "relay (default: --public-url)");
  serve_cmd->add_option("--relay-key-file", f.relay_key_file,
                        "File with the 32-byte hex key that signs relay grants (shared by a pool "
                        "of servers; random per start when not given)");
  serve_cmd
      ->add_option("--relay-max-bytes", relay_limits.max_bytes,
                   "Bytes one relayed transfer may move, e.g. 10G (0: no limit)")
      ->transform(CLI::AsSizeValue(false).description(""))
      ->type_name("SIZE")
      ->default_str("64G");
  serve_cmd
      ->add_option("--relay-rate", relay_limits.rate,
                   "Bytes per second for one relayed transfer, e.g. 50M (0: no limit)")
      ->transform(CLI::AsSizeValue(false).description(""))
      ->type_name("SIZE")
      ->default_str("0");
  serve_cmd
      ->add_option("--relay-bandwidth", relay_limits.bandwidth,
                   "Bytes per second for all relayed transfers together (0: no limit)")
      ->transform(CLI::AsSizeValue(false).description(""))
      ->type_name("SIZE")
      ->default_str("0");
  serve_cmd
      ->add_option("--relay-max-duration", f.max_duration,
                   "Seconds one relayed transfer may last (0: no limit)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--relay-wait", f.peer_wait, "Seconds the relay holds a peer for the other one")
      ->capture_default_str();
  serve_cmd
      ->add_option("--relay-per-address", relay_limits.per_address,
                   "Relay connections one address may hold at once")
      ->capture_default_str();
  serve_cmd
      ->add_option("--relay-connects-per-minute", relay_limits.connects_per_minute,
                   "Relay connections one address may open per minute")
      ->capture_default_str();
  serve_cmd->add_option("--max-connections", f.max_connections,
                        "Connections in all (default: 20000, or fewer to stay below the "
                        "descriptor limit, which is raised to its hard limit at start)");
  serve_cmd->add_option("--max-connections-per-address", f.per_address,
                        "Connections from one address (IPv6: one /64) at once (default: a "
                        "sixteenth of --max-connections, at most 1024)");
  serve_cmd
      ->add_option("--connects-per-second-per-address", o.connect_rate.per_second,
                   "New connections a second from one address (bursts of twice that)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--handshake-timeout", f.handshake_timeout,
                   "Seconds for a new connection's first bytes, and for a TLS handshake")
      ->capture_default_str();
  serve_cmd
      ->add_option("--request-timeout", f.request_timeout,
                   "Seconds for one HTTP request (headers and body), or between two")
      ->capture_default_str();
  serve_cmd
      ->add_option("--unbound-timeout", f.unbound_timeout,
                   "Seconds a rendezvous WebSocket may stay open without a code")
      ->capture_default_str();
  serve_cmd
      ->add_option("--relay-hello-timeout", f.relay_hello_timeout,
                   "Seconds for a relay connection's hello")
      ->capture_default_str();
  serve_cmd
      ->add_option("--drain-time", f.drain_time,
                   "On SIGTERM: seconds relayed transfers may run on before the server exits")
      ->capture_default_str();
  serve_cmd->add_option("--metrics-listen", f.metrics_listen,
                        "ADDRESS:PORT for /metrics (and /healthz) alone, e.g. 127.0.0.1:9430; "
                        "then the public port does not serve /metrics");
  serve_cmd->add_option("--log-level", f.log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
  serve_cmd->add_option("--log-format", f.log_format, "text or json (one object a line), on stderr")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  return serve_cmd;
}

int run_serve(ServeFlags f) {
  auto& options = f.options;
  server::configure_server_log(spdlog::level::from_str(f.log_level), f.log_format == "json"
                                                                         ? server::LogFormat::json
                                                                         : server::LogFormat::text);
  auto listen = parse_listen(f.listen);
  if (!listen) return usage_error(listen.error().detail);
  options.listen = *listen;
  if (!f.metrics_listen.empty()) {
    auto m = parse_listen(f.metrics_listen);
    if (!m) return usage_error("--metrics-listen: " + m.error().detail);
    options.metrics_listen = *m;
  }
  if (!options.public_url.empty()) {
    if (auto u = proto::parse_server_url(options.public_url); !u)
      return usage_error("--public-url: " + u.error().detail);
  }
  if (!f.relay_key_file.empty()) {
    auto key = read_relay_key(f.relay_key_file);
    if (!key) return usage_error(key.error().detail);
    options.relay_key = *key;
  }
  if (!f.redis.empty()) {
    auto url = proto::parse_redis_url(f.redis);
    if (!url) return usage_error("--redis: " + url.error().detail);
    options.redis = *url;
    if (f.relay_key_file.empty()) {
      return usage_error(
          "--redis needs --relay-key-file: every node of a cluster signs and checks relay grants "
          "with the same key (create one with `openssl rand -hex 32 > relay.key`)");
    }
    if (!f.no_relay && options.public_url.empty() && options.relay_url.empty()) {
      return usage_error(
          "--redis: peers of other nodes must reach this node's relay: give --relay-url (its "
          "own URL) or --public-url, or run it with --no-relay");
    }
  } else if (!options.relay_url.empty()) {
    return usage_error("--relay-url is for a node of a cluster (with --redis)");
  }
  if (!options.relay_url.empty()) {
    if (auto u = proto::parse_server_url(options.relay_url); !u)
      return usage_error("--relay-url: " + u.error().detail);
  }
  if (!f.stun_alternate_ip.empty()) {
    boost::system::error_code ec;
    options.stun_alternate_ip = asio::ip::make_address(f.stun_alternate_ip, ec);
    if (ec) {
      return usage_error("--stun-alternate-ip: \"" + f.stun_alternate_ip +
                         "\" is not an IP address");
    }
  }
  if (options.stun_rate.per_second <= 0) return usage_error("--stun-rate-per-address must be > 0");
  options.stun_rate.burst = 2 * options.stun_rate.per_second;
  if (options.connect_rate.per_second <= 0) {
    return usage_error("--connects-per-second-per-address must be > 0");
  }
  options.connect_rate.burst = 2 * options.connect_rate.per_second;
  options.relay_enabled = !f.no_relay;
  options.stun = !f.no_stun;
  options.relay_udp = !f.no_relay_udp;
  options.relay.max_duration = std::chrono::seconds(std::max<std::int64_t>(0, f.max_duration));
  options.relay.wait_for_peer = std::chrono::seconds(std::max<std::int64_t>(1, f.peer_wait));
  options.relay.hello_timeout = seconds_or(f.relay_hello_timeout, options.relay.hello_timeout);
  options.handshake_timeout = seconds_or(f.handshake_timeout, options.handshake_timeout);
  options.request_timeout = seconds_or(f.request_timeout, options.request_timeout);
  options.unbound_timeout = seconds_or(f.unbound_timeout, options.unbound_timeout);
  options.nameplate_ttl = seconds_or(f.code_ttl, options.nameplate_ttl);
  options.connections =
      connection_limits(raise_descriptor_limit(), f.max_connections, f.per_address);

  asio::io_context io;
  server::Server srv(io, options);
  if (auto r = srv.start(); !r) return usage_error(r.error().detail);
  const auto ep = srv.local_endpoint();
  std::cout << "ferry server listening on " << ep.address().to_string() << ":" << ep.port()
            << "\npublic URL: " << srv.public_url() << "\n";
  if (srv.stun_ports().empty()) {
    std::cout << "STUN off (--no-stun)\n";
  } else {
    std::cout << "STUN on UDP ports " << srv.stun_ports()[0] << " and " << srv.stun_ports()[1]
              << "\n";
  }
  if (srv.relay_udp_port() != 0) {
    std::cout << "relay over UDP on port " << srv.relay_udp_port() << "\n";
  }
  if (const auto m = srv.metrics_endpoint()) {
    std::cout << "metrics on " << m->address().to_string() << ":" << m->port() << "\n";
  }
  std::cout << std::flush;

  // SIGINT stops at once; SIGTERM drains relayed transfers first (a second one stops at once).
  asio::signal_set stop(io, SIGINT, SIGTERM);
  bool draining = false;
  std::function<void(const boost::system::error_code&, int)> on_stop =
      [&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        if (signal == SIGINT || draining) return io.stop();
        draining = true;
        asio::co_spawn(io, srv.drain(std::chrono::seconds(std::max<std::int64_t>(0, f.drain_time))),
                       [&](const std::exception_ptr&) { io.stop(); });
        stop.async_wait(on_stop);
      };
  stop.async_wait(on_stop);
  asio::signal_set reload(io, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_reload =
      [&](const boost::system::error_code& ec, int) {
        if (ec) return;
        if (auto r = srv.reload_tls(); r) {
          server::log_event(spdlog::level::info, "tls_reloaded", {{"cert", options.tls_cert}});
        } else {
          server::log_event(spdlog::level::err, "tls_reload_failed", {{"error", r.error().detail}});
        }
        reload.async_wait(on_reload);
      };
  reload.async_wait(on_reload);
  io.run();
  return 0;
}

}  // namespace ferry::cli
