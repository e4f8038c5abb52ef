// `ferry doctor`: what this network allows, checked against a real server — its rendezvous, its
// relay, the proxy in the way, and whether this computer has a public address or sits behind NAT.
// Each check has a deadline, so a verdict comes in seconds.
#pragma once

#include <string>
#include <vector>

#include "net/asio.hpp"
#include "proto/server_url.hpp"

namespace ferry::session {

struct DoctorCheck {
  std::string name;    // "proxy", "rendezvous", "relay", "addresses", "udp"
  std::string status;  // "ok", "failed", "info", "untested"
  std::string detail;  // a sentence for a person
  double milliseconds = 0;
};

struct DoctorReport {
  std::vector<DoctorCheck> checks;
  bool usable = false;                          // can send and receive (at least through the relay)
  proto::Errc failure = proto::Errc::internal;  // when not usable
  std::string verdict;                          // what it means, and what to do
};

net::awaitable<DoctorReport> run_doctor(proto::ServerUrl server);

}  // namespace ferry::session
