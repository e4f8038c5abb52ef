// `ferry doctor`: what this network allows, checked against a real server — its rendezvous, its
// relay (raw and WebSocket), the proxy in the way, whether this computer has a public address or
// sits behind NAT, what that NAT does to UDP (STUN against the server's two ports), and whether
// the router forwards ports on request (UPnP-IGD, NAT-PMP, PCP).
// Each check has a deadline, so a verdict comes in seconds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/asio.hpp"
#include "proto/nat_behavior.hpp"
#include "proto/server_url.hpp"

namespace ferry::session {

enum class CheckStatus : std::uint8_t { ok, failed, info, untested };
std::string_view check_status_name(CheckStatus s);  // "ok", "failed", "info", "untested"

struct DoctorCheck {
  std::string name;  // "proxy", "rendezvous", "relay", "relay-websocket", "addresses", "udp",
                     // "port-mapping"
  CheckStatus status = CheckStatus::info;
  std::string detail;  // a sentence for a person
  double milliseconds = 0;
};

struct DoctorReport {
  std::vector<DoctorCheck> checks;
  bool usable = false;                          // can send and receive (at least through the relay)
  proto::Errc failure = proto::Errc::internal;  // when not usable
  std::string verdict;                          // what it means, and what to do
  std::optional<proto::NatBehavior> nat;        // when UDP was measured
};

// stun: another STUN server ("host", port) to measure UDP against instead of the server's own.
net::awaitable<DoctorReport> run_doctor(proto::ServerUrl server,
                                        std::optional<proto::HostPort> stun = std::nullopt);

}  // namespace ferry::session
