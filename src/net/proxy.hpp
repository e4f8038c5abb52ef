// HTTP CONNECT tunnels to the server through the proxy the environment names (https_proxy,
// HTTPS_PROXY, all_proxy, ALL_PROXY; exemptions in no_proxy/NO_PROXY), with Basic credentials
// from the proxy URL. Peer-to-peer attempts never use it: a proxy only reaches the server.
#pragma once

#include <chrono>
#include <optional>

#include "net/asio.hpp"
#include "proto/proxy_url.hpp"

namespace ferry::net {

// The proxy to use for host, if any; an unusable setting is an error, not a silent bypass.
proto::Result<std::optional<proto::ProxyUrl>> proxy_for(std::string_view host);

// Asks the proxy at the other end of stream to connect to host:port; after success the stream is
// a byte pipe to the target.
awaitable<proto::Result<void>> open_tunnel(beast::tcp_stream& stream, const proto::ProxyUrl& proxy,
                                           const std::string& host, std::uint16_t port,
                                           std::chrono::milliseconds timeout);

}  // namespace ferry::net
