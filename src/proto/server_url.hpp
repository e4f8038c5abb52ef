// The server's public URL (what `serve --public-url` prints and `--server` takes) and the endpoints
// a client derives from it. Pure parsing, so garbage is rejected before any socket is opened.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "proto/error.hpp"

namespace ferry::proto {

struct ServerUrl {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;
  std::string base_path;  // "" or "/prefix", never a trailing slash

  std::string rendezvous_target() const { return base_path + "/v1/rendezvous"; }
  std::string relay_target() const { return base_path + "/v1/relay"; }
  // What a request's Host header says: the host (IPv6 in brackets), and the port unless default.
  std::string host_header() const;
  std::string to_string() const;
};

Result<ServerUrl> parse_server_url(std::string_view text);

// "host", "host:port", "[v6]", "[v6]:port": the authority part every URL we take shares.
struct HostPort {
  std::string host;  // without brackets
  std::optional<std::uint16_t> port;
};
// On failure, the error's detail is a short reason ("has an invalid port") for the caller's
// sentence.
Result<HostPort> parse_host_port(std::string_view authority);

}  // namespace ferry::proto
