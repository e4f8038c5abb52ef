// One wormhole client's WebSocket to `ferry serve`'s /v1: reads its frames into the shared
// WormholeMailbox state and writes what that state delivers, in order. Every stage has a
// deadline: a client that holds no nameplate or mailbox in time (a bare bind proves nothing), whose
// mailbox nobody else opens within a code's lifetime, or that stays past the relay's longest
// transfer, is closed; so is one that sends binary frames, keeps sending errors, or does not read
// what it is sent (its queue is bounded, and so are its address's queues together).
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "net/websocket_client.hpp"
#include "server/outgoing_frames.hpp"
#include "server/wormhole_mailbox.hpp"

namespace ferry::server {

// The largest frame a wormhole client may send (its messages are a few hundred bytes).
inline constexpr std::size_t kWormholeMaxFrame = std::size_t{64} * 1024;
// What one connection's outgoing queue may hold: a mailbox's whole replay and a frame.
inline constexpr std::size_t kWormholeMaxQueued =
    WormholeMailboxLimits{}.max_mailbox_bytes + kWormholeMaxFrame;

struct WormholeConnection {
  std::chrono::seconds hold_within{30};    // to hold a nameplate or mailbox
  std::chrono::seconds pair_within{3600};  // for its mailbox to have both sides
  std::chrono::seconds stay_at_most{6 * 3600};
  std::shared_ptr<QueueBudget> address_queues;  // shared by the client address's connections
  std::function<void()> on_holding;             // it holds something: not evictable from now on
  std::function<bool()> may_try_a_code;         // the address's claim limit
  std::function<void(std::string_view)> on_deadline;  // for the refusal counter: which one
};

// The WebSocket must already be accepted.
net::awaitable<void> serve_wormhole_mailbox(net::WebSocket ws, WormholeMailbox& mailbox,
                                            WormholeConnection how);

}  // namespace ferry::server
