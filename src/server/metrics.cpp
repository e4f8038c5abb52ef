#include "server/metrics.hpp"

#include <initializer_list>
#include <string_view>

namespace ferry::server {

namespace {
// Appended piece by piece: g++ 12 at -O2 misreads long chains of std::string + as out of bounds.
void append(std::string& out, std::initializer_list<std::string_view> parts) {
  for (const auto p : parts) out.append(p);
}

void metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            std::uint64_t value) {
  const std::string v = std::to_string(value);
  append(out, {"# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ", v, "\n"});
}

template <class Map>
void labelled(std::string& out, std::string_view name, std::string_view help, const Map& values,
              std::string_view label = "reason", std::string_view type = "counter") {
  append(out, {"# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n"});
  for (const auto& [key, v] : values) {
    const std::string count = std::to_string(v);
    append(out, {name, "{", label, "=\"", std::string_view(key), "\"} ", count, "\n"});
  }
}
}  // namespace

std::string render_udp_relay_metrics(const UdpRelayStats& udp) {
  std::string out;
  metric(out, "ferry_relay_udp_bound", "gauge", "Sides of sessions bound to the UDP relay.",
         udp.bound);
  metric(out, "ferry_relay_udp_active_sessions", "gauge",
         "Sessions the UDP relay forwards between now (both sides bound).", udp.active);
  metric(out, "ferry_relay_udp_sessions_total", "counter", "Sessions the UDP relay paired.",
         udp.sessions);
  metric(out, "ferry_relay_udp_bytes_total", "counter", "Bytes forwarded by the UDP relay.",
         udp.bytes);
  metric(out, "ferry_relay_udp_unbound_total", "counter",
         "Sides their clients unbound from the UDP relay when done.", udp.unbound);
  metric(out, "ferry_relay_udp_dropped_total", "counter",
         "Datagrams the UDP relay dropped: over a rate, or from no bound side.", udp.dropped);
  labelled(out, "ferry_relay_udp_refused_total", "UDP relay binds refused, by reason.",
           udp.refused);
  labelled(out, "ferry_relay_udp_ended_total", "Sessions the UDP relay ended at a limit, by limit.",
           udp.ended);
  return out;
}

std::string render_wormhole_metrics(const WormholeMailboxStats& wormhole) {
  std::string out;
  metric(out, "ferry_wormhole_clients", "gauge", "magic-wormhole clients connected to /v1.",
         wormhole.clients);
  metric(out, "ferry_wormhole_nameplates", "gauge", "magic-wormhole nameplates in use.",
         wormhole.nameplates);
  metric(out, "ferry_wormhole_mailboxes", "gauge", "magic-wormhole mailboxes open.",
         wormhole.mailboxes);
  metric(out, "ferry_wormhole_messages_total", "counter",
         "Messages magic-wormhole clients added to their mailboxes.", wormhole.messages);
  metric(out, "ferry_wormhole_stored_bytes", "gauge",
         "Bytes of the messages magic-wormhole mailboxes hold for replay.", wormhole.stored_bytes);
  return out;
}

std::string render_metrics(const RendezvousStats& rendezvous, const RelayStats& relay,
                           const ServerCounters& server, const StunStats& stun) {
  std::string out;
  metric(out, "ferry_connections", "gauge", "Connections open to this server.", server.connections);
  std::map<std::string_view, std::size_t> stages;
  for (std::size_t i = 0; i < kConnectionStages; ++i) {
    stages[stage_name(static_cast<ConnectionStage>(i))] = server.by_stage[i];
  }
  labelled(out, "ferry_connections_by_stage", "Connections open now, by stage.", stages, "stage",
           "gauge");
  metric(out, "ferry_connections_refused_total", "counter",
         "Connections closed at once: the server or their address had too many.",
         server.connections_refused);
  metric(out, "ferry_connections_evicted_total", "counter",
         "Connections that had proved nothing yet, closed to make room for new ones.",
         server.evicted);
  labelled(out, "ferry_refused_total",
           "Connections refused or ended by a limit, a deadline or a check, by reason.",
           server.refused);
  metric(out, "ferry_stun_answered_total", "counter", "STUN requests answered.", stun.answered);
  labelled(out, "ferry_stun_limited_total", "STUN requests left unanswered over a rate limit.",
           std::map<std::string_view, std::uint64_t>{{"address", stun.limited_address},
                                                     {"total", stun.limited_total}});
  metric(out, "ferry_rendezvous_waiting", "gauge", "Codes waiting for their receiver.",
         rendezvous.waiting);
  metric(out, "ferry_rendezvous_receivers_waiting", "gauge",
         "Receivers that started first, waiting for their sender.", rendezvous.receivers_waiting);
  metric(out, "ferry_rendezvous_paired_clients", "gauge", "Clients in a pair.", rendezvous.paired);
  metric(out, "ferry_rendezvous_claims_refused_total", "counter",
         "Code claims refused over the per-address budget.", server.claims_refused);
  metric(out, "ferry_relay_waiting", "gauge", "Relay connections waiting for their peer.",
         relay.waiting);
  metric(out, "ferry_relay_active_sessions", "gauge", "Relayed sessions forwarding now.",
         relay.active);
  metric(out, "ferry_relay_sessions_total", "counter", "Relayed sessions paired.", relay.sessions);
  metric(out, "ferry_relay_bytes_total", "counter", "Bytes forwarded by the relay.", relay.bytes);
  labelled(out, "ferry_relay_refused_total",
           "Relay connections refused, by reason (probe: ferry doctor checking the relay).",
           relay.refused);
  labelled(out, "ferry_relay_ended_total", "Relayed sessions the relay ended at a limit, by limit.",
           relay.ended);
  return out;
}

}  // namespace ferry::server
