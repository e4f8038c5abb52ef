// A client's way to the relay: a raw connection to the server port (TCP, or TLS for https://
// servers) or a WebSocket on /v1/relay, either through the environment's CONNECT proxy; then the
// relay handshake. A transport that the network breaks (the relay never answers "waiting") is
// worth retrying on the other; a relay that answers with a refusal is not.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/byte_stream.hpp"
#include "proto/relay_hello.hpp"
#include "proto/server_url.hpp"

namespace ferry::net {

enum class RelayTransport { raw, websocket };
std::string_view relay_transport_name(RelayTransport t);

// carried_by (when given) names what carries the bytes: "TCP", "WebSocket", or "HTTPS requests"
// when a proxy removed the WebSocket upgrade (websocket_client.hpp).
awaitable<proto::Result<std::unique_ptr<ByteStream>>> open_relay_transport(
    const proto::ServerUrl& server, RelayTransport transport, std::chrono::milliseconds timeout,
    std::string* carried_by = nullptr);

struct RelayTimeouts {
  std::chrono::milliseconds answer{3000};  // until "waiting": the transport works
  std::chrono::milliseconds pair{30000};   // until "paired"
};

// Sends the hello and waits for the relay to pair us. Errors: server_unreachable when the
// transport failed before the relay answered (worth another transport); relay_refused,
// relay_limit or no_path (the peer never came) when it answered.
awaitable<proto::Result<void>> relay_handshake(ByteStream& stream, const proto::RelayHello& hello,
                                               const std::string& where, RelayTimeouts timeouts);

// A relay connection made, and what carries it.
struct RelayConnection {
  std::unique_ptr<ByteStream> stream;
  std::string carried_by;  // "TCP", "WebSocket" or "HTTPS requests"
};

// The relay's transports raced rather than tried in turn: raw first; the WebSocket (itself over
// HTTPS requests where a proxy removes the upgrade) as soon as raw failed, or when raw's relay
// has not answered within a head start of a few of its connection's round trips (a proxy that
// swallows raw bytes). The first paired wins and the other is closed. A relay that refused
// (a limit, the side taken) ends it: another transport would hear the same. Each transport that
// failed on the way adds a line to notes. cancel is set to what ends it early (its attempts
// close, and it returns at once).
net::awaitable<proto::Result<RelayConnection>> connect_relay_raced(
    const proto::ServerUrl& relay, const proto::RelayHello& hello,
    std::chrono::milliseconds connect_timeout, std::vector<std::string>& notes,
    std::function<void()>& cancel);

}  // namespace ferry::net
