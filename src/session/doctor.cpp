#include "session/doctor.hpp"

#include <sodium.h>

#include <chrono>

#include "net/port_mapping.hpp"
#include "net/proxy.hpp"
#include "net/relay_client.hpp"
#include "net/stun_client.hpp"
#include "net/tcp.hpp"
#include "net/udp_mux.hpp"
#include "proto/relay_udp.hpp"
#include "session/rendezvous_client.hpp"
#include "session/transfer.hpp"

namespace ferry::session {

using namespace net;
using proto::Errc;

std::string_view check_status_name(CheckStatus s) {
  switch (s) {
    case CheckStatus::ok:
      return "ok";
    case CheckStatus::failed:
      return "failed";
    case CheckStatus::info:
      return "info";
    case CheckStatus::untested:
      return "untested";
  }
  return "?";
}

namespace {

class Stopwatch {
 public:
  double ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_)
        .count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// The relay answers a probe (an all-zero grant, which nobody signs) like a forged grant: proof that
// it is there and speaking our protocol over this transport, without using any session; its
// operator sees it counted as a probe.
awaitable<DoctorCheck> check_relay(const proto::ServerUrl& server, RelayTransport transport) {
  Stopwatch watch;
  const std::string name = transport == RelayTransport::raw ? "relay" : "relay-websocket";
  std::string carried_by;
  auto stream =
      co_await open_relay_transport(server, transport, Budgets::kServerConnect, &carried_by);
  if (!stream) co_return DoctorCheck{name, CheckStatus::failed, stream.error().detail, watch.ms()};
  const proto::RelayHello hello{proto::Side::sender, {}};  // the all-zero probe grant
  const auto answer =
      co_await relay_handshake(**stream, hello, server.to_string(),
                               RelayTimeouts{Budgets::kServerConnect, Budgets::kServerConnect});
  (*stream)->close();
  if (answer || answer.error().code != Errc::relay_refused ||
      answer.error().detail.find("not issued") == std::string::npos) {
    co_return DoctorCheck{
        name, CheckStatus::failed,
        answer ? "something answered, but not a ferry relay" : answer.error().detail, watch.ms()};
  }
  co_return DoctorCheck{
      name, CheckStatus::ok,
      "the relay answers over " + carried_by + "; transfers can always fall back to it",
      watch.ms()};
}

// The relay over UDP answers a probe bind (the all-zero grant) like a forged grant, with a datagram
// smaller than the bind; no answer means UDP to it is blocked here, and a relayed transfer keeps
// to TCP (slow on long, lossy links where TCP runs CUBIC).
awaitable<DoctorCheck> check_relay_udp(const proto::ServerUrl& server, std::uint16_t port) {
  Stopwatch watch;
  if (port == 0) {
    co_return DoctorCheck{"relay-udp", CheckStatus::info,
                          "the server runs no relay over UDP: relayed transfers use TCP", 0};
  }
  auto ex = co_await asio::this_coro::executor;
  udp::resolver resolver(ex);
  error_code ec;
  const auto found = co_await resolver.async_resolve(server.host, "0", redirect(ec));
  if (ec || found.empty()) {
    co_return DoctorCheck{"relay-udp", CheckStatus::failed,
                          "cannot resolve " + server.host + ": " + describe(ec), watch.ms()};
  }
  const udp::endpoint relay(found.begin()->endpoint().address(), port);
  auto mux = UdpMux::open(
      ex, udp::endpoint(relay.address().is_v4() ? asio::ip::address(asio::ip::address_v4::any())
                                                : asio::ip::address(asio::ip::address_v6::any()),
                        0));
  if (!mux) co_return DoctorCheck{"relay-udp", CheckStatus::failed, mux.error().detail, 0};
  auto answered = std::make_shared<std::optional<proto::RelayStatus>>();
  auto wake = std::make_shared<asio::steady_timer>(ex);
  (*mux)->on_relay = [answered, wake](proto::ByteView d, const udp::endpoint&) {
    if (auto a = proto::decode_relay_answer(d)) {
      *answered = a->status;
      wake->cancel();
    }
  };
  (*mux)->start();
  const auto probe = proto::encode(proto::RelayBind{});  // the all-zero probe grant
  for (int i = 0; i < 3 && !*answered; ++i) {
    (*mux)->send(probe, relay);
    wake->expires_after(Budgets::kServerConnect / 6);
    co_await wake->async_wait(redirect(ec));
  }
  (*mux)->close();
  const std::string where = endpoint_text(relay);
  if (!*answered) {
    co_return DoctorCheck{"relay-udp", CheckStatus::failed,
                          "no answer from the relay's UDP port (" + where +
                              "): UDP to it is blocked here, so relayed transfers use TCP",
                          watch.ms()};
  }
  if (**answered != proto::RelayStatus::forged) {
    co_return DoctorCheck{"relay-udp", CheckStatus::failed,
                          "the relay's UDP port (" + where + ") answered unexpectedly", watch.ms()};
  }
  co_return DoctorCheck{
      "relay-udp", CheckStatus::ok,
      "the relay answers over UDP (" + where + "): a relayed transfer can run QUIC through it",
      watch.ms()};
}

// UDP through this network: STUN against the server's two ports (or the given STUN server).
awaitable<DoctorCheck> check_udp(const proto::ServerUrl& server, std::vector<std::uint16_t> ports,
                                 const std::optional<proto::HostPort>& stun, DoctorReport& report) {
  Stopwatch watch;
  std::string host = server.host;
  if (stun) {
    host = stun->host;
    ports = {stun->port.value_or(3478)};
  }
  if (ports.empty()) {
    co_return DoctorCheck{"udp", CheckStatus::untested,
                          "the server runs no STUN responder, so UDP was not measured "
                          "(ferry doctor --stun HOST:PORT measures it against another)",
                          0};
  }
  tcp::resolver resolver(co_await asio::this_coro::executor);
  error_code ec;
  const auto found = co_await resolver.async_resolve(host, "0", redirect(ec));
  if (ec || found.empty()) {
    co_return DoctorCheck{"udp", CheckStatus::failed,
                          "cannot resolve " + host + ": " + describe(ec), watch.ms()};
  }
  const auto observations =
      co_await observe_nat(found.begin()->endpoint().address(), ports, Budgets::kServerConnect / 2);
  const auto nat = proto::classify_nat(observations);
  report.nat = nat;
  co_return DoctorCheck{"udp", nat.udp_blocked ? CheckStatus::failed : CheckStatus::ok,
                        proto::describe_nat(nat), watch.ms()};
}

// Whether the router forwards a port on request, by each method; the test mapping is released.
awaitable<DoctorCheck> check_port_mapping() {
  Stopwatch watch;
  auto ex = co_await asio::this_coro::executor;
  tcp::acceptor acceptor(ex, tcp::endpoint(tcp::v4(), 0));
  PortMapper mapper(ex);
  co_await mapper.map(acceptor.local_endpoint().port(), 0, Budgets::kPortMapping);
  std::string granted;
  for (const auto& m : mapper.all()) {
    granted += (granted.empty() ? "" : "; ") + std::string(mapping_method_name(m.method)) +
               " maps TCP " + std::to_string(m.internal_port) + " to " + m.external_address + ":" +
               std::to_string(m.external_port);
  }
  std::string refused;
  for (const auto& n : mapper.notes()) refused += "; " + n;
  mapper.release();
  if (granted.empty()) {
    co_return DoctorCheck{"port-mapping", CheckStatus::info,
                          "no router here maps ports on request (UPnP-IGD, NAT-PMP and PCP went "
                          "unanswered or were refused). Hole punching and the relay still work; "
                          "send --direct reaches only this network",
                          watch.ms()};
  }
  co_return DoctorCheck{"port-mapping", CheckStatus::ok,
                        "the router forwards ports on request: " + granted + refused +
                            " (released again). Peers anywhere can connect in, and send --direct "
                            "works from here",
                        watch.ms()};
}

// Whether this process gets BBR on its TCP sockets (net::tune_for_bulk), which decides how ferry's
// TCP paths (direct and to the relay) fare on long, lossy links.
DoctorCheck check_congestion_control(const asio::any_io_executor& ex) {
  const std::string cc = bulk_congestion_control(ex);
  if (cc == "bbr") {
    return {"congestion", CheckStatus::ok,
            "TCP runs BBR here: ferry's TCP paths keep their speed on long, lossy links", 0};
  }
  return {"congestion", CheckStatus::info,
          "TCP runs " + (cc.empty() ? std::string("the system's default") : cc) +
              " here, not BBR (it is not allowed to this user): on long, lossy links ferry's TCP "
              "paths slow down, its QUIC paths do not (where both open, a long transfer measures "
              "them and keeps the faster, and so on the relay, over TCP or UDP). An "
              "administrator can "
              "allow it: modprobe "
              "tcp_bbr; sysctl -w net.ipv4.tcp_allowed_congestion_control=\"reno cubic bbr\"",
          0};
}

}  // namespace

awaitable<DoctorReport> run_doctor(proto::ServerUrl server, std::optional<proto::HostPort> stun) {
  DoctorReport report;
  const std::string where = server.to_string();

  const ProxyChoice choice = proxy_for(server.host);
  const std::optional<proto::ProxyUrl>& proxy = choice.proxy;
  if (!choice.ignored.empty()) {
    report.checks.push_back({"proxy", CheckStatus::failed,
                             choice.ignored + ": ferry ignores it and connects directly", 0});
  } else {
    report.checks.push_back(
        {"proxy", CheckStatus::info,
         proxy ? "the server is reached through the proxy " + proxy->to_string() +
                     " (from https_proxy or all_proxy); direct paths to peers do not use it"
               : "no proxy is configured for " + server.host,
         0});
  }

  Stopwatch watch;
  auto rendezvous = co_await RendezvousClient::connect(server, Budgets::kServerConnect);
  if (!rendezvous) {
    report.checks.push_back(
        {"rendezvous", CheckStatus::failed, rendezvous.error().detail, watch.ms()});
    report.failure = rendezvous.error().code;
    report.verdict = "ferry cannot work from here: the server at " + where +
                     " cannot be reached (" + rendezvous.error().detail +
                     "). Check the address and your connection" +
                     (proxy ? ", and the proxy settings."
                            : "; if this network only allows web "
                              "traffic through a proxy, set https_proxy.");
    co_return report;
  }
  const std::string observed = rendezvous->observed();
  const std::vector<std::uint16_t> stun_ports = rendezvous->stun_ports();
  const std::uint16_t relay_udp_port = rendezvous->relay_udp();
  const std::string route = rendezvous->route_note();
  rendezvous->close();
  report.checks.push_back(
      {"rendezvous", CheckStatus::ok,
       "the server at " + where + " answers" + (route.empty() ? std::string() : " (" + route + ")"),
       watch.ms()});

  const auto relay = co_await check_relay(server, RelayTransport::raw);
  report.checks.push_back(relay);
  const auto relay_ws = co_await check_relay(server, RelayTransport::websocket);
  report.checks.push_back(relay_ws);
  report.checks.push_back(co_await check_relay_udp(server, relay_udp_port));

  std::string addresses;
  bool observed_is_local = false;
  for (const auto& a : local_addresses()) {
    observed_is_local = observed_is_local || a.to_string() == observed;
    if (!a.is_loopback()) addresses += (addresses.empty() ? "" : ", ") + a.to_string();
  }
  error_code ec;
  const bool same_machine = !observed.empty() && asio::ip::make_address(observed, ec).is_loopback();
  std::string nat;
  if (same_machine) {
    nat = "the server runs on this computer, so it cannot tell whether this computer is behind NAT";
  } else if (observed.empty()) {
    nat = "the server did not say how it sees this computer";
  } else if (proxy) {
    nat = "the server sees the proxy (" + observed +
          "), so this computer's public address is unknown";
  } else if (observed_is_local && observed.find(':') != std::string::npos) {
    nat = "this computer has a global IPv6 address (" + observed +
          "): peers reach it directly where no firewall filters it; home routers and mobile "
          "carriers usually admit only replies, and ferry then opens the path from both sides at "
          "once (TCP simultaneous open, UDP hole punching)";
  } else if (observed_is_local) {
    nat = "this computer has a public address (" + observed + "): peers can connect to it directly";
  } else {
    nat = "this computer is behind NAT: its addresses are " +
          (addresses.empty() ? "none" : addresses) + ", the internet sees " + observed +
          ". Direct paths open through ordinary home routers (TCP simultaneous open, UDP hole "
          "punching); between two NATs that both map each destination anew, transfers use the "
          "relay";
  }
  report.checks.push_back({"addresses", CheckStatus::info, nat, 0});
  report.checks.push_back(co_await check_udp(server, stun_ports, stun, report));
  report.checks.push_back(co_await check_port_mapping());
  report.checks.push_back(check_congestion_control(co_await asio::this_coro::executor));

  report.usable = relay.status == CheckStatus::ok || relay_ws.status == CheckStatus::ok;
  if (relay.status == CheckStatus::ok) {
    report.verdict = "ferry works from here: the server and its relay answer" +
                     std::string(proxy ? " through the proxy" : "") + ".";
  } else if (report.usable) {
    const bool https_requests = relay_ws.detail.find("HTTPS requests") != std::string::npos;
    report.verdict =
        std::string("ferry works from here, through the relay's WebSocket transport") +
        (https_requests ? " carried by HTTPS requests (the proxy refuses upgrades)" : "") +
        " (raw TCP to the relay is blocked: " + relay.detail + ").";
  } else {
    report.failure = Errc::relay_refused;
    report.verdict =
        "the server answers but its relay does not (" + relay.detail +
        "): transfers work only where a direct path opens. Tell the server's operator.";
  }
  co_return report;
}

}  // namespace ferry::session
