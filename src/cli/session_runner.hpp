// Running one transfer session on an io_context: to its end, or until Ctrl-C (then the other side
// is told, for at most a second and a half; a second Ctrl-C stops at once). The outcome becomes a
// sentence on the console and an exit status.
#pragma once

#include "cli/console.hpp"
#include "net/asio.hpp"
#include "session/cancellation.hpp"

namespace ferry::cli {

int run_session(Console& console, session::Cancellation& cancellation, bool sender,
                net::awaitable<proto::Result<void>> task);

// FERRY_NO_TCP=1 leaves direct TCP out, FERRY_NO_UDP=1 UDP hole punching: to see what the other
// paths do on their own.
bool no_direct_tcp();
bool no_udp();
// FERRY_NO_RELAY_TCP=1 / FERRY_NO_RELAY_UDP=1 leave one of the relay's transports out.
bool no_relay_tcp();
bool no_relay_udp();
// FERRY_TCP_CONNECTIONS=1..8: how many connections a dialled direct TCP pipe uses (wide TCP); 0
// (unset or anything else) lets the round trip decide.
std::uint8_t tcp_connections();

}  // namespace ferry::cli
