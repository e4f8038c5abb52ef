#include "cli/doctor_command.hpp"

#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/config.hpp"
#include "cli/exit_codes.hpp"
#include "net/port_mapping.hpp"
#include "net/tcp.hpp"
#include "proto/names.hpp"
#include "session/doctor.hpp"

namespace ferry::cli {

namespace asio = boost::asio;
using proto::Errc;

CLI::App* add_doctor_command(CLI::App& app, DoctorFlags& f) {
  auto* cmd = app.add_subcommand("doctor", "Check what this network allows, against a server");
  cmd->add_option("--server", f.server, "The server's URL (default: FERRY_SERVER, config)");
  add_ca_file_option(cmd);
  cmd->add_flag("--json", f.json, "Print the report as one JSON object");
  cmd->add_option("--stun", f.stun,
                  "Measure UDP against this STUN server (HOST[:PORT], default port 3478) "
                  "instead of the ferry server's own");
  return cmd;
}

namespace {
int doctor(const proto::ServerUrl& server, const std::string& stun_flag, bool json) {
  std::optional<proto::HostPort> stun;
  if (!stun_flag.empty()) {
    auto hp = proto::parse_host_port(stun_flag);
    if (!hp || hp->host.empty()) {
      return usage_error("--stun \"" + stun_flag + "\" is not HOST or HOST:PORT" +
                         (hp ? "" : " (" + hp.error().detail + ")"));
    }
    stun = *hp;
  }
  asio::io_context io;
  session::DoctorReport report;
  asio::co_spawn(io, session::run_doctor(server, stun),
                 [&](const std::exception_ptr& ep, session::DoctorReport r) {
                   if (ep) {
                     r.failure = Errc::internal;
                     r.verdict = "internal error while checking";
                   }
                   report = std::move(r);
                 });
  io.run();
  net::join_port_mapping_workers();
  if (json) {
    nlohmann::json checks = nlohmann::json::array();
    for (const auto& c : report.checks) {
      checks.push_back({{"name", c.name},
                        {"status", session::check_status_name(c.status)},
                        {"detail", c.detail},
                        {"ms", c.milliseconds}});
    }
    nlohmann::json out{{"event", "doctor"},
                       {"server", server.to_string()},
                       {"checks", checks},
                       {"usable", report.usable},
                       {"verdict", report.verdict}};
    if (report.nat) {
      const auto& n = *report.nat;
      out["nat"] = {{"udp_blocked", n.udp_blocked},
                    {"behind_nat", n.behind_nat},
                    {"mapping", proto::mapping_name(n.mapping)},
                    {"filtering", proto::filtering_name(n.filtering)},
                    {"port_preserved", n.port_preserved},
                    {"public", n.public_address ? n.public_address->to_string() : ""}};
    }
    std::cout << out.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    // What a server answered may be hostile: escaped before it reaches the terminal.
    const auto safe = [](std::string_view s) { return proto::terminal_text(s); };
    std::cout << "ferry doctor: checking " << safe(server.to_string()) << "\n";
    for (const auto& c : report.checks) {
      char ms[32] = "";
      if (c.milliseconds > 0) std::snprintf(ms, sizeof ms, " (%.0f ms)", c.milliseconds);
      std::cout << "  " << std::left << std::setw(16) << safe(c.name) << std::setw(9)
                << session::check_status_name(c.status) << safe(c.detail) << ms << "\n";
    }
    std::cout << "\n" << safe(report.verdict) << "\n";
  }
  return report.usable ? 0 : exit_status(report.failure);
}
// No server configured: what works without one, the LAN mode (send and receive find each other
// by multicast and broadcast on this computer's networks), and how to go further.
int doctor_without_server(bool json) {
  std::string networks;
  for (const auto& itf : net::ipv4_interfaces()) {
    if (itf.loopback || (!itf.multicast && !itf.broadcast)) continue;
    networks += (networks.empty() ? "" : ", ") + itf.address.to_string();
  }
  const bool lan = !networks.empty();
  const std::string detail =
      lan ? "ferry send and ferry receive find each other on this computer's networks (" +
                networks + ") without a server, by multicast and broadcast"
          : "this computer has no network that carries multicast or broadcast, so ferry's LAN "
            "mode cannot find a peer from here";
  const std::string verdict = std::string(lan ? "ferry works on this network without a server. "
                                              : "ferry needs a server from here. ") +
                              "To send across the internet, name a server with " +
                              naming_a_server() + ".";
  if (json) {
    const nlohmann::json out{
        {"event", "doctor"},
        {"server", ""},
        {"checks", {{{"name", "lan"}, {"status", lan ? "ok" : "failed"}, {"detail", detail}}}},
        {"usable", lan},
        {"verdict", verdict}};
    std::cout << out.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    std::cout << "ferry doctor: no ferry server is configured\n  " << std::left << std::setw(16)
              << "lan" << std::setw(9) << (lan ? "ok" : "failed") << detail << "\n\n"
              << verdict << "\n";
  }
  return lan ? 0 : exit_status(Errc::no_path);
}
}  // namespace

int run_doctor_command(const DoctorFlags& flags) {
  auto server = resolve_server(flags.server);
  if (!server) return usage_error(server.error().detail);
  if (!*server) return doctor_without_server(flags.json);
  return doctor(**server, flags.stun, flags.json);
}

}  // namespace ferry::cli
