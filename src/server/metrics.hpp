// The server's counters in the Prometheus text format (GET /metrics): rendezvous sessions, relay
// sessions and bytes, refusals by reason. Pure rendering, so the format is unit-tested.
#pragma once

#include <cstdint>
#include <string>

#include "server/relay.hpp"
#include "server/rendezvous.hpp"

namespace ferry::server {

struct ServerCounters {
  std::size_t connections = 0;            // open now
  std::uint64_t claims_refused = 0;       // over the per-address claim budget
  std::uint64_t connections_refused = 0;  // over max_connections
};

std::string render_metrics(const RendezvousStats& rendezvous, const RelayStats& relay,
                           const ServerCounters& server);

}  // namespace ferry::server
