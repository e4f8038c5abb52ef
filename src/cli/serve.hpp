// `ferry serve`: its flags and the process around the server: the descriptor limit, the log,
// SIGHUP (reload the TLS certificate), SIGTERM (drain relayed transfers, then exit 0).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "server/server.hpp"

namespace ferry::cli {

struct ServeFlags {
  std::string listen = "0.0.0.0:4300";
  std::string metrics_listen;
  server::ServerOptions options;
  std::string relay_key_file;
  std::string redis;
  std::string stun_alternate_ip;
  bool no_stun = false;
  bool no_relay = false;
  bool no_relay_udp = false;
  std::int64_t max_duration = 0;
  std::int64_t peer_wait = 0;
  std::int64_t handshake_timeout = 0;
  std::int64_t request_timeout = 0;
  std::int64_t unbound_timeout = 0;
  std::int64_t code_ttl = 0;
  std::int64_t relay_hello_timeout = 0;
  std::int64_t drain_time = 30;
  std::size_t max_connections = 0;  // 0: from the descriptor limit
  std::size_t per_address = 0;      // 0: from max_connections
  std::string log_level = "info";
  std::string log_format = "text";
};

CLI::App* add_serve_command(CLI::App& app, ServeFlags& flags);
int run_serve(ServeFlags flags);

}  // namespace ferry::cli
