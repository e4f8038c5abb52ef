#include "net/port_mapping.hpp"

#include <arpa/inet.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <natpmp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/post.hpp>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "proto/pcp.hpp"
#include "proto/ssdp.hpp"

namespace ferry::net {

using proto::Bytes;

namespace {
constexpr char kLease[] = "3600";
constexpr std::uint32_t kLeaseSeconds = 3600;

// The workers block in library calls that cannot be interrupted, so a transfer may end while one
// still waits for its deadline. They are joined before the process exits (a thread still running
// in exit() races the runtime's own teardown) and before the io_context they post to is gone.
// Joining sets g_stopping: discovery and the NAT-PMP and PCP exchanges then give up within 100 ms
// (a request to a router that did answer still takes what the router takes).
std::mutex g_workers_mutex;
std::vector<std::thread> g_workers;
std::atomic<bool> g_stopping{false};
constexpr auto kStopCheck = std::chrono::milliseconds(100);
}  // namespace

void join_port_mapping_workers() {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(g_workers_mutex);
    workers.swap(g_workers);
  }
  g_stopping = true;
  for (auto& t : workers) t.join();
  g_stopping = false;
}

// Shared with the worker threads, which may outlive a PortMapper that was destroyed early.
struct PortMapper::State {
  std::mutex mutex;
  std::vector<PortMapping> mappings;
  std::vector<std::string> notes;
  int running = 0;
  // What release() needs.
  std::string upnp_control_url, upnp_service;
  bool natpmp_used = false;
  // PCP deletes a mapping only when asked with the nonce that made it.
  std::map<std::pair<proto::Transport, std::uint16_t>, proto::PcpNonce> pcp_nonces;
  in_addr_t pcp_gateway = 0;
  // Set by release(); a worker that finishes later undoes what it mapped itself.
  bool released = false;
};

namespace {

void release_mappings(PortMapper::State& state, bool now);

// SSDP (proto/ssdp.hpp): asks every Internet gateway device on the LAN to answer, for every type
// one may announce at once, and returns the description URLs of those that do, within `wait`,
// 100 ms after the first answer, or sooner when the process ends. (miniupnpc's upnpDiscover()
// cannot be cut short, and asks for one type after another, each with the whole wait.)
in_addr_t default_gateway();

std::vector<std::string> ssdp_discover(std::chrono::milliseconds wait, in_addr_t gateway) {
  std::vector<std::string> found;
  if (gateway == 0) return found;
  char gateway_text[INET_ADDRSTRLEN] = {0};
  inet_ntop(AF_INET, &gateway, gateway_text, sizeof gateway_text);
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return found;
  const unsigned char ttl = 2;
  ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(proto::kSsdpPort);
  to.sin_addr.s_addr = inet_addr(proto::kSsdpAddress);
  for (const char* type : proto::kSsdpGatewayTypes) {
    const std::string search = proto::ssdp_search(type);
    ::sendto(fd, search.data(), search.size(), 0, reinterpret_cast<const sockaddr*>(&to),
             sizeof to);
  }
  auto now = std::chrono::steady_clock::now();
  auto deadline = now + wait;
  while (now < deadline && !g_stopping) {
    pollfd p{fd, POLLIN, 0};
    const auto until = std::min(deadline, now + kStopCheck);
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(ms, 0))) > 0) {
      std::array<char, 2048> buf{};
      sockaddr_in from{};
      socklen_t from_len = sizeof from;
      const ssize_t n =
          ::recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
      auto url = proto::ssdp_location({buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0});
      // Only the gateway's own answer, pointing at the gateway: anyone else on the LAN may lie.
      if (url &&
          (from.sin_addr.s_addr != gateway || proto::ssdp_location_host(*url) != gateway_text)) {
        url.reset();
      }
      if (url && std::find(found.begin(), found.end(), *url) == found.end()) {
        found.push_back(std::move(*url));
        deadline = std::min(deadline, std::chrono::steady_clock::now() + kStopCheck);
      }
    }
    now = std::chrono::steady_clock::now();
  }
  ::close(fd);
  return found;
}

void upnp_worker(const std::shared_ptr<PortMapper::State>& state, std::uint16_t tcp_port,
                 std::uint16_t udp_port, int timeout_ms) {
  std::vector<PortMapping> got;
  std::string note;
  // (Routers answer within MX, one second.)
  const auto locations =
      ssdp_discover(std::chrono::milliseconds(std::min(1000, timeout_ms)), default_gateway());
  // The first that describes itself and says its public address.
  UPNPUrls urls{};
  IGDdatas data{};
  char lan[64] = {0};
  char external[64] = {0};
  bool described = false;
  bool igd = false;
  for (const auto& location : locations) {
    if (g_stopping) break;
    if (UPNP_GetIGDFromUrl(location.c_str(), &urls, &data, lan, sizeof lan) == 1) {
      described = true;
      igd = UPNP_GetExternalIPAddress(urls.controlURL, data.first.servicetype, external) == 0 &&
            external[0] != 0;
      if (igd) break;
    }
    FreeUPNPUrls(&urls);
    urls = {};
  }
  if (locations.empty()) {
    note = "UPnP-IGD: no router answered";
  } else if (!described) {
    note = "UPnP-IGD: no Internet gateway device found";
  } else if (!igd) {
    note = "UPnP-IGD: the router did not say its public address";
  } else {
    for (const auto& [proto, port] : {std::pair{"TCP", tcp_port}, std::pair{"UDP", udp_port}}) {
      if (port == 0) continue;
      const std::string p = std::to_string(port);
      const int rv = UPNP_AddPortMapping(urls.controlURL, data.first.servicetype, p.c_str(),
                                         p.c_str(), lan, "ferry", proto, nullptr, kLease);
      if (rv == 0) {
        got.push_back({proto[0] == 'T' ? proto::Transport::tcp : proto::Transport::udp, external,
                       port, port, MappingMethod::upnp_igd});
      } else {
        note = "UPnP-IGD: the router refused to map " + std::string(proto) + " port " + p +
               " (error " + std::to_string(rv) + ")";
      }
    }
    std::lock_guard lock(state->mutex);
    if (!got.empty()) {
      state->upnp_control_url = urls.controlURL;
      state->upnp_service = data.first.servicetype;
    }
    FreeUPNPUrls(&urls);
  }
  std::lock_guard lock(state->mutex);
  state->mappings.insert(state->mappings.end(), got.begin(), got.end());
  if (!note.empty()) state->notes.push_back(note);
}

// One NAT-PMP request and its answer, retried as the library says, until deadline.
bool natpmp_exchange(natpmp_t& np, natpmpresp_t& response,
                     std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    timeval tv{};
    if (getnatpmprequesttimeout(&np, &tv) < 0) return false;
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return false;
    const auto left_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::min<std::chrono::steady_clock::duration>(left, kStopCheck))
                             .count();
    const long long wait_us = std::min<long long>(tv.tv_sec * 1000000LL + tv.tv_usec, left_us);
    tv.tv_sec = static_cast<time_t>(wait_us / 1000000);
    tv.tv_usec = static_cast<suseconds_t>(wait_us % 1000000);
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(np.s, &fds);
    select(np.s + 1, &fds, nullptr, nullptr, &tv);
    const int rv = readnatpmpresponseorretry(&np, &response);
    if (rv == 0) return true;
    if (rv != NATPMP_TRYAGAIN || g_stopping) return false;
  }
}

void natpmp_worker(const std::shared_ptr<PortMapper::State>& state, std::uint16_t tcp_port,
                   std::uint16_t udp_port, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<PortMapping> got;
  std::string note;
  natpmp_t np{};
  natpmpresp_t response{};
  if (initnatpmp(&np, 0, 0) < 0) {
    note = "NAT-PMP: no default gateway to ask";
  } else if (sendpublicaddressrequest(&np) < 0 || !natpmp_exchange(np, response, deadline)) {
    note = "NAT-PMP: the router did not answer";
  } else {
    char external[INET_ADDRSTRLEN] = {0};
    inet_ntop(AF_INET, &response.pnu.publicaddress.addr, external, sizeof external);
    for (const auto& [proto, port] :
         {std::pair{NATPMP_PROTOCOL_TCP, tcp_port}, std::pair{NATPMP_PROTOCOL_UDP, udp_port}}) {
      if (port == 0) continue;
      natpmpresp_t mapped{};
      if (sendnewportmappingrequest(&np, proto, port, port, kLeaseSeconds) < 0 ||
          !natpmp_exchange(np, mapped, deadline)) {
        note = "NAT-PMP: the router did not map port " + std::to_string(port);
        continue;
      }
      got.push_back({proto == NATPMP_PROTOCOL_TCP ? proto::Transport::tcp : proto::Transport::udp,
                     external, mapped.pnu.newportmapping.mappedpublicport, port,
                     MappingMethod::nat_pmp});
    }
  }
  closenatpmp(&np);
  std::lock_guard lock(state->mutex);
  state->natpmp_used = state->natpmp_used || !got.empty();
  state->mappings.insert(state->mappings.end(), got.begin(), got.end());
  if (!note.empty()) state->notes.push_back(note);
}

in_addr_t default_gateway() {
  natpmp_t np{};
  if (initnatpmp(&np, 0, 0) < 0) return 0;
  const in_addr_t gw = np.gateway;
  closenatpmp(&np);
  return gw;
}

// A UDP socket connected to the gateway's PCP port, and our address on it; -1 when unreachable.
int pcp_socket(in_addr_t gateway, Bytes& client_ip) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(proto::kPcpPort);
  to.sin_addr.s_addr = gateway;
  sockaddr_in me{};
  socklen_t me_len = sizeof me;
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &me_len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  const auto* ip = reinterpret_cast<const std::uint8_t*>(&me.sin_addr.s_addr);
  client_ip.assign(ip, ip + 4);
  return fd;
}

// One PCP MAP exchange with the gateway on a connected socket, retried until deadline.
proto::Result<proto::PcpMapResponse> pcp_exchange(int fd, const proto::PcpMapRequest& request,
                                                  std::chrono::steady_clock::time_point deadline) {
  const auto failed = [](const char* why) {
    return proto::fail(proto::Errc::server_unreachable, why);
  };
  const auto wire = proto::encode_pcp_map(request);
  auto wait = std::chrono::milliseconds(250);
  auto now = std::chrono::steady_clock::now();
  auto next_send = now;
  while (now < deadline) {
    if (now >= next_send) {
      if (::send(fd, wire.data(), wire.size(), 0) < 0) return failed("cannot reach the gateway");
      next_send = now + wait;
      wait = std::min(wait * 2, std::chrono::milliseconds(4000));  // RFC 6887 doubles the wait
    }
    const auto until = std::min({next_send, deadline, now + kStopCheck});
    pollfd p{fd, POLLIN, 0};
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    if (::poll(&p, 1, static_cast<int>(std::max<long long>(ms, 0))) > 0) {
      std::array<std::uint8_t, 1100> buf{};
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n < 0) return failed("the gateway refused (no PCP server)");
      auto r =
          proto::decode_pcp_map_response(proto::ByteView(buf.data(), static_cast<std::size_t>(n)));
      if (r && r->nonce == request.nonce) return *r;
    }
    if (g_stopping) break;
    now = std::chrono::steady_clock::now();
  }
  return failed("the router did not answer");
}

void pcp_worker(const std::shared_ptr<PortMapper::State>& state, std::uint16_t tcp_port,
                std::uint16_t udp_port, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::vector<PortMapping> got;
  std::map<std::pair<proto::Transport, std::uint16_t>, proto::PcpNonce> nonces;
  std::string note;
  const in_addr_t gateway = default_gateway();
  Bytes client_ip;
  const int fd = gateway != 0 ? pcp_socket(gateway, client_ip) : -1;
  if (gateway == 0) {
    note = "PCP: no default gateway to ask";
  } else if (fd < 0) {
    note = "PCP: cannot reach the gateway";
  } else {
    for (const auto& [transport, proto_number, port] :
         {std::tuple{proto::Transport::tcp, proto::kPcpTcp, tcp_port},
          std::tuple{proto::Transport::udp, proto::kPcpUdp, udp_port}}) {
      if (port == 0) continue;
      proto::PcpMapRequest request;
      request.client_ip = client_ip;
      request.protocol = proto_number;
      request.internal_port = port;
      request.suggested_external_port = port;
      request.lifetime = kLeaseSeconds;
      randombytes_buf(request.nonce.data(), request.nonce.size());
      const auto r = pcp_exchange(fd, request, deadline);
      if (!r) {
        note = "PCP: " + r.error().detail;
        break;
      }
      if (r->result != 0) {
        note = "PCP: the router refused to map " + std::string(proto::transport_name(transport)) +
               " port " + std::to_string(port) + " (" + proto::pcp_result_name(r->result) + ")";
        continue;
      }
      char external[INET6_ADDRSTRLEN] = {0};
      inet_ntop(r->external_ip.size() == 4 ? AF_INET : AF_INET6, r->external_ip.data(), external,
                sizeof external);
      got.push_back({transport, external, r->external_port, port, MappingMethod::pcp});
      nonces[{transport, port}] = request.nonce;
    }
  }
  if (fd >= 0) ::close(fd);
  std::lock_guard lock(state->mutex);
  state->pcp_gateway = gateway;
  state->pcp_nonces.insert(nonces.begin(), nonces.end());
  state->mappings.insert(state->mappings.end(), got.begin(), got.end());
  if (!note.empty()) state->notes.push_back(note);
}

}  // namespace

PortMapper::PortMapper(asio::any_io_executor ex)
    : ex_(std::move(ex)), state_(std::make_shared<State>()) {}

PortMapper::~PortMapper() {
  release();
}

awaitable<std::vector<PortMapping>> PortMapper::map(std::uint16_t tcp_port, std::uint16_t udp_port,
                                                    std::chrono::milliseconds timeout) {
  auto timer = std::make_shared<asio::steady_timer>(ex_, timeout + std::chrono::milliseconds(200));
  const int ms = static_cast<int>(timeout.count());
  state_->running = 3;
  {
    std::lock_guard workers_lock(g_workers_mutex);
    for (auto* worker : {&upnp_worker, &natpmp_worker, &pcp_worker}) {
      g_workers.emplace_back([=, state = state_, ex = ex_] {
        worker(state, tcp_port, udp_port, ms);
        release_mappings(*state, false);
        asio::post(ex, [state, timer] {
          if (--state->running == 0) timer->cancel();
        });
      });
    }
  }
  error_code ec;
  co_await timer->async_wait(redirect(ec));
  std::lock_guard lock(state_->mutex);
  notes_ = state_->notes;
  all_ = state_->mappings;
  // One mapping per protocol: UPnP's where both answered (it is what release() undoes first).
  std::vector<PortMapping> out;
  for (const auto& m : state_->mappings) {
    const bool have = std::any_of(out.begin(), out.end(), [&](const PortMapping& o) {
      return o.transport == m.transport && o.external_port == m.external_port &&
             o.external_address == m.external_address;
    });
    if (!have) out.push_back(m);
  }
  co_return out;
}

void PortMapper::release() {
  release_mappings(*state_, true);
}

std::string_view mapping_method_name(MappingMethod m) {
  switch (m) {
    case MappingMethod::upnp_igd:
      return "UPnP-IGD";
    case MappingMethod::nat_pmp:
      return "NAT-PMP";
    case MappingMethod::pcp:
      return "PCP";
  }
  return "?";
}

namespace {

// Deletes what is mapped now; once release() has run (`now`), also whatever a worker maps later.
void release_mappings(PortMapper::State& state, bool now) {
  std::vector<PortMapping> mappings;
  std::string control, service;
  bool natpmp = false;
  std::map<std::pair<proto::Transport, std::uint16_t>, proto::PcpNonce> pcp_nonces;
  in_addr_t gateway = 0;
  {
    std::lock_guard lock(state.mutex);
    if (now) state.released = true;
    if (!state.released) return;
    mappings.swap(state.mappings);
    control = state.upnp_control_url;
    service = state.upnp_service;
    natpmp = state.natpmp_used;
    pcp_nonces = state.pcp_nonces;
    gateway = state.pcp_gateway;
  }
  for (const auto& m : mappings) {
    const std::string port = std::to_string(m.external_port);
    const bool tcp = m.transport == proto::Transport::tcp;
    const char* proto = tcp ? "TCP" : "UDP";
    if (m.method == MappingMethod::upnp_igd && !control.empty()) {
      UPNP_DeletePortMapping(control.c_str(), service.c_str(), port.c_str(), proto, nullptr);
    }
    if (m.method == MappingMethod::nat_pmp && natpmp) {
      natpmp_t np{};
      natpmpresp_t response{};
      if (initnatpmp(&np, 0, 0) == 0 &&
          sendnewportmappingrequest(&np, tcp ? NATPMP_PROTOCOL_TCP : NATPMP_PROTOCOL_UDP,
                                    m.internal_port, 0, 0) >= 0) {
        natpmp_exchange(np, response,
                        std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
      }
      closenatpmp(&np);
    }
    const auto nonce = pcp_nonces.find({m.transport, m.internal_port});
    if (m.method == MappingMethod::pcp && nonce != pcp_nonces.end() && gateway != 0) {
      // A MAP with lifetime 0 and the same nonce deletes it.
      Bytes client_ip;
      const int fd = pcp_socket(gateway, client_ip);
      if (fd >= 0) {
        proto::PcpMapRequest request;
        request.client_ip = client_ip;
        request.protocol = tcp ? proto::kPcpTcp : proto::kPcpUdp;
        request.internal_port = m.internal_port;
        request.lifetime = 0;
        request.nonce = nonce->second;
        (void)pcp_exchange(fd, request,
                           std::chrono::steady_clock::now() + std::chrono::milliseconds(300));
      }
      if (fd >= 0) ::close(fd);
    }
  }
}

}  // namespace

}  // namespace ferry::net
