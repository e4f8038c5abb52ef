#include "net/port_mapping.hpp"

#include <arpa/inet.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <natpmp.h>
#include <sys/select.h>

#include <boost/asio/post.hpp>
#include <mutex>
#include <thread>

namespace ferry::net {

namespace {
constexpr char kLease[] = "3600";
constexpr std::uint32_t kLeaseSeconds = 3600;
}  // namespace

// Shared with the worker threads, which may outlive a PortMapper that was destroyed early.
struct PortMapper::State {
  std::mutex mutex;
  std::vector<PortMapping> mappings;
  std::vector<std::string> notes;
  int running = 0;
  // What release() needs.
  std::string upnp_control_url, upnp_service;
  bool natpmp_used = false;
};

namespace {

void upnp_worker(std::shared_ptr<PortMapper::State> state, std::uint16_t tcp_port,
                 std::uint16_t udp_port, int timeout_ms) {
  std::vector<PortMapping> got;
  std::string note;
  int error = 0;
  UPNPDev* devices = upnpDiscover(std::max(100, timeout_ms / 2), nullptr, nullptr,
                                  UPNP_LOCAL_PORT_ANY, 0, 2, &error);
  UPNPUrls urls{};
  IGDdatas data{};
  char lan[64] = {0};
  const int igd = devices != nullptr ? UPNP_GetValidIGD(devices, &urls, &data, lan, sizeof lan) : 0;
  if (devices == nullptr) {
    note = "UPnP-IGD: no router answered";
  } else if (igd != 1) {
    note = "UPnP-IGD: no connected Internet gateway device found";
  } else {
    char external[64] = {0};
    if (UPNP_GetExternalIPAddress(urls.controlURL, data.first.servicetype, external) != 0 ||
        external[0] == 0) {
      note = "UPnP-IGD: the router did not say its public address";
    } else {
      for (const auto& [proto, port] : {std::pair{"TCP", tcp_port}, std::pair{"UDP", udp_port}}) {
        if (port == 0) continue;
        const std::string p = std::to_string(port);
        const int rv = UPNP_AddPortMapping(urls.controlURL, data.first.servicetype, p.c_str(),
                                           p.c_str(), lan, "ferry", proto, nullptr, kLease);
        if (rv == 0) {
          got.push_back({proto[0] == 'T' ? "tcp" : "udp", external, port, port, "UPnP-IGD"});
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
    }
    FreeUPNPUrls(&urls);
  }
  if (devices != nullptr) freeUPNPDevlist(devices);
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
    const auto left_us = std::chrono::duration_cast<std::chrono::microseconds>(left).count();
    const long long wait_us = std::min<long long>(tv.tv_sec * 1000000LL + tv.tv_usec, left_us);
    tv.tv_sec = static_cast<time_t>(wait_us / 1000000);
    tv.tv_usec = static_cast<suseconds_t>(wait_us % 1000000);
    fd_set fds;
    FD_ZERO(&fds);
    FD_SET(np.s, &fds);
    select(np.s + 1, &fds, nullptr, nullptr, &tv);
    const int rv = readnatpmpresponseorretry(&np, &response);
    if (rv == 0) return true;
    if (rv != NATPMP_TRYAGAIN) return false;
  }
}

void natpmp_worker(std::shared_ptr<PortMapper::State> state, std::uint16_t tcp_port,
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
      got.push_back({proto == NATPMP_PROTOCOL_TCP ? "tcp" : "udp", external,
                     mapped.pnu.newportmapping.mappedpublicport, port, "NAT-PMP"});
    }
  }
  closenatpmp(&np);
  std::lock_guard lock(state->mutex);
  state->natpmp_used = state->natpmp_used || !got.empty();
  state->mappings.insert(state->mappings.end(), got.begin(), got.end());
  if (!note.empty()) state->notes.push_back(note);
}

}  // namespace

PortMapper::PortMapper(asio::any_io_executor ex) : ex_(ex), state_(std::make_shared<State>()) {}

PortMapper::~PortMapper() {
  release();
}

awaitable<std::vector<PortMapping>> PortMapper::map(std::uint16_t tcp_port, std::uint16_t udp_port,
                                                    std::chrono::milliseconds timeout) {
  auto timer = std::make_shared<asio::steady_timer>(ex_, timeout + std::chrono::milliseconds(200));
  const int ms = static_cast<int>(timeout.count());
  state_->running = 2;
  for (auto* worker : {&upnp_worker, &natpmp_worker}) {
    std::thread([=, state = state_, ex = ex_] {
      worker(state, tcp_port, udp_port, ms);
      asio::post(ex, [state, timer] {
        if (--state->running == 0) timer->cancel();
      });
    }).detach();
  }
  error_code ec;
  co_await timer->async_wait(redirect(ec));
  std::lock_guard lock(state_->mutex);
  notes_ = state_->notes;
  // One mapping per protocol: UPnP's where both answered (it is what release() undoes first).
  std::vector<PortMapping> out;
  for (const auto& m : state_->mappings) {
    const bool have = std::any_of(out.begin(), out.end(), [&](const PortMapping& o) {
      return o.protocol == m.protocol && o.external_port == m.external_port &&
             o.external_address == m.external_address;
    });
    if (!have) out.push_back(m);
  }
  co_return out;
}

void PortMapper::release() {
  std::vector<PortMapping> mappings;
  std::string control, service;
  bool natpmp = false;
  {
    std::lock_guard lock(state_->mutex);
    mappings.swap(state_->mappings);
    control = state_->upnp_control_url;
    service = state_->upnp_service;
    natpmp = state_->natpmp_used;
  }
  for (const auto& m : mappings) {
    const std::string port = std::to_string(m.external_port);
    const char* proto = m.protocol == "tcp" ? "TCP" : "UDP";
    if (m.method == "UPnP-IGD" && !control.empty()) {
      UPNP_DeletePortMapping(control.c_str(), service.c_str(), port.c_str(), proto, nullptr);
    }
    if (m.method == "NAT-PMP" && natpmp) {
      natpmp_t np{};
      natpmpresp_t response{};
      if (initnatpmp(&np, 0, 0) == 0 &&
          sendnewportmappingrequest(&np,
                                    m.protocol == "tcp" ? NATPMP_PROTOCOL_TCP : NATPMP_PROTOCOL_UDP,
                                    m.internal_port, 0, 0) >= 0) {
        natpmp_exchange(np, response,
                        std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
      }
      closenatpmp(&np);
    }
  }
}

}  // namespace ferry::net
