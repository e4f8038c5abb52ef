// One wormhole client's WebSocket to `ferry serve`'s /v1: reads its frames into the shared
// WormholeMailbox state and writes what that state delivers, in order. A client that does not
// bind in time, sends binary frames or keeps sending errors is closed.
#pragma once

#include <chrono>
#include <functional>

#include "net/websocket_client.hpp"
#include "server/wormhole_mailbox.hpp"

namespace ferry::server {

// The largest frame a wormhole client may send (its messages are a few hundred bytes).
inline constexpr std::size_t kWormholeMaxFrame = std::size_t{64} * 1024;

// The WebSocket must already be accepted.
// on_bound: called once, when the client has said which application it is.
net::awaitable<void> serve_wormhole_mailbox(net::WebSocket ws, WormholeMailbox& mailbox,
                                            std::chrono::seconds unbound_timeout,
                                            std::function<void()> on_bound);

}  // namespace ferry::server
