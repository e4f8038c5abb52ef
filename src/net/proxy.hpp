// Tunnels to the server through the proxy the environment names (https_proxy, HTTPS_PROXY,
// all_proxy, ALL_PROXY; exemptions in no_proxy/NO_PROXY), as curl reads them: HTTP CONNECT with
// Basic credentials, or SOCKS5 (socks5:// resolving names here, socks5h:// letting the proxy do
// it) with a username and password. Peer-to-peer attempts never use it: a proxy only reaches the
// server.
#pragma once

#include <chrono>
#include <optional>

#include "net/asio.hpp"
#include "proto/proxy_url.hpp"

namespace ferry::net {

struct ProxyChoice {
  std::optional<proto::ProxyUrl> proxy;  // none: connect directly
  // A setting ferry cannot use: why, said wherever the direct attempt's outcome is reported (a
  // setting ferry does not understand never stops it from trying: the server may be reachable).
  std::string ignored;
};

// The proxy to use for host, if any.
ProxyChoice proxy_for(std::string_view host);

// Asks the proxy at the other end of stream to connect to host:port (HTTP CONNECT or SOCKS5, as
// its URL says); after success the stream is a byte pipe to the target.
awaitable<proto::Result<void>> open_tunnel(beast::tcp_stream& stream, const proto::ProxyUrl& proxy,
                                           const std::string& host, std::uint16_t port,
                                           std::chrono::milliseconds timeout);

}  // namespace ferry::net
