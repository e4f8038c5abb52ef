// Asking STUN servers what this network does to UDP: from one socket, Binding requests to a
// server's primary address and port, its other port, its other address, and CHANGE-REQUESTs to
// see which answers get through (RFC 5780), all within a deadline. Gives the observations that
// proto/nat_behavior classifies.
#pragma once

#include <chrono>
#include <vector>

#include "net/asio.hpp"
#include "proto/nat_behavior.hpp"

namespace ferry::net {

// server: the STUN server's address; ports: its primary port, then (optionally) its other port.
awaitable<proto::NatObservations> observe_nat(asio::ip::address server,
                                              std::vector<std::uint16_t> ports,
                                              std::chrono::milliseconds timeout);

}  // namespace ferry::net
