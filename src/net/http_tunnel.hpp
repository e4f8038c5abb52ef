// The client's end of the HTTPS-request transport (proto/http_tunnel.hpp), for networks whose
// proxy removes the WebSocket upgrade: a connection to the server whose bytes ordinary requests
// carry, through the same proxy and TLS as any other. What it returns is the local end of a
// socket pair, a stream like connect_server's: the WebSocket handshake and everything after it
// run over it unchanged.
#pragma once

#include <chrono>

#include "net/any_stream.hpp"
#include "proto/error.hpp"
#include "proto/server_url.hpp"

namespace ferry::net {

awaitable<proto::Result<AnyStream>> open_http_tunnel(const proto::ServerUrl& url,
                                                     std::chrono::milliseconds timeout);

}  // namespace ferry::net
