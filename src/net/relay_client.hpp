// A client's way to the relay: a raw connection to the server port (TCP, or TLS for https://
// servers) or a WebSocket on /v1/relay, either through the environment's CONNECT proxy; then the
// relay handshake. A transport that the network breaks (the relay never answers "waiting") is
// worth retrying on the other; a relay that answers with a refusal is not.
#pragma once

#include <chrono>
#include <memory>

#include "net/byte_stream.hpp"
#include "proto/relay_hello.hpp"
#include "proto/server_url.hpp"

namespace ferry::net {

enum class RelayTransport { raw, websocket };
std::string_view relay_transport_name(RelayTransport t);

awaitable<proto::Result<std::unique_ptr<ByteStream>>> open_relay_transport(
    const proto::ServerUrl& server, RelayTransport transport, std::chrono::milliseconds timeout);

struct RelayTimeouts {
  std::chrono::milliseconds answer{3000};  // until "waiting": the transport works
  std::chrono::milliseconds pair{30000};   // until "paired"
};

// Sends the hello and waits for the relay to pair us. Errors: server_unreachable when the
// transport failed before the relay answered (worth another transport); relay_refused,
// relay_limit or no_path (the peer never came) when it answered.
awaitable<proto::Result<void>> relay_handshake(ByteStream& stream, const proto::RelayHello& hello,
                                               const std::string& where, RelayTimeouts timeouts);

}  // namespace ferry::net
