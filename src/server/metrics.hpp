// The server's counters in the Prometheus text format (GET /metrics): rendezvous sessions, relay
// sessions and bytes, refusals by reason. Pure rendering, so the format is unit-tested.
#pragma once

#include <cstdint>
#include <string>

#include "server/connection_table.hpp"
#include "server/relay.hpp"
#include "server/rendezvous.hpp"
#include "server/stun_responder.hpp"
#include "server/udp_relay.hpp"
#include "server/wormhole_mailbox.hpp"

namespace ferry::server {

struct ServerCounters {
  std::size_t connections = 0;  // open now
  std::array<std::size_t, kConnectionStages> by_stage{};
  std::uint64_t claims_refused = 0;       // over the per-address claim budget
  std::uint64_t connections_refused = 0;  // over the connection caps, in all or per address
  std::uint64_t evicted = 0;              // unproven connections closed to make room
  // Connections refused or ended by a limit, a deadline or a check, by reason.
  std::map<std::string, std::uint64_t, std::less<>> refused;
};

// The relay over UDP's gauges and counters, appended after render_metrics().
std::string render_udp_relay_metrics(const UdpRelayStats& udp);
// The magic-wormhole mailbox's gauges and counter, appended after render_metrics().
std::string render_wormhole_metrics(const WormholeMailboxStats& wormhole);
std::string render_metrics(const RendezvousStats& rendezvous, const RelayStats& relay,
                           const ServerCounters& server, const StunStats& stun);

}  // namespace ferry::server
