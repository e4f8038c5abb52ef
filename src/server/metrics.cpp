#include "server/metrics.hpp"

namespace ferry::server {

namespace {
void metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
            std::uint64_t value) {
  out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) +
         " " + std::string(type) + "\n" + std::string(name) + " " + std::to_string(value) + "\n";
}

void labelled(std::string& out, std::string_view name, std::string_view help,
              const std::map<std::string, std::uint64_t>& values) {
  out += "# HELP " + std::string(name) + " " + std::string(help) + "\n# TYPE " + std::string(name) +
         " counter\n";
  for (const auto& [reason, v] : values) {
    out += std::string(name) + "{reason=\"" + reason + "\"} " + std::to_string(v) + "\n";
  }
}
}  // namespace

std::string render_metrics(const RendezvousStats& rendezvous, const RelayStats& relay,
                           const ServerCounters& server) {
  std::string out;
  metric(out, "ferry_connections", "gauge", "Connections open to this server.", server.connections);
  metric(out, "ferry_connections_refused_total", "counter",
         "Connections closed at once because the server was full.", server.connections_refused);
  metric(out, "ferry_rendezvous_waiting", "gauge", "Codes waiting for their receiver.",
         rendezvous.waiting);
  metric(out, "ferry_rendezvous_paired_clients", "gauge", "Clients in a pair.", rendezvous.paired);
  metric(out, "ferry_rendezvous_claims_refused_total", "counter",
         "Code claims refused over the per-address budget.", server.claims_refused);
  metric(out, "ferry_relay_waiting", "gauge", "Relay connections waiting for their peer.",
         relay.waiting);
  metric(out, "ferry_relay_active_sessions", "gauge", "Relayed sessions forwarding now.",
         relay.active);
  metric(out, "ferry_relay_sessions_total", "counter", "Relayed sessions paired.", relay.sessions);
  metric(out, "ferry_relay_bytes_total", "counter", "Bytes forwarded by the relay.", relay.bytes);
  labelled(out, "ferry_relay_refused_total", "Relay connections refused, by reason.",
           relay.refused);
  labelled(out, "ferry_relay_ended_total", "Relayed sessions the relay ended at a limit, by limit.",
           relay.ended);
  return out;
}

}  // namespace ferry::server
