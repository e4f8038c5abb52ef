// Asking the local router to forward a public port to us, so a peer anywhere can connect in:
// UPnP-IGD (miniupnpc), NAT-PMP (libnatpmp) and PCP (RFC 6887, proto/pcp.hpp) at once, each within
// a short deadline and on its own thread (the libraries block). Mappings are leased for an hour
// and released when the PortMapper goes: at the end of a transfer, or when ferry is interrupted.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "net/asio.hpp"
#include "proto/peer_message.hpp"

namespace ferry::net {

enum class MappingMethod : std::uint8_t { upnp_igd, nat_pmp, pcp };
std::string_view mapping_method_name(MappingMethod m);  // "UPnP-IGD", "NAT-PMP", "PCP"

struct PortMapping {
  proto::Transport transport = proto::Transport::tcp;
  std::string external_address;
  std::uint16_t external_port = 0;
  std::uint16_t internal_port = 0;
  MappingMethod method = MappingMethod::upnp_igd;
};

class PortMapper {
 public:
  explicit PortMapper(asio::any_io_executor ex);
  ~PortMapper();  // releases every mapping
  PortMapper(const PortMapper&) = delete;
  PortMapper& operator=(const PortMapper&) = delete;

  // Maps tcp_port (TCP) and udp_port (UDP; 0: none) to the same public port numbers where the
  // router agrees. What no method could do is said in notes().
  awaitable<std::vector<PortMapping>> map(std::uint16_t tcp_port, std::uint16_t udp_port,
                                          std::chrono::milliseconds timeout);
  // Removes the mappings now (blocking: one request to the router per mapping).
  void release();
  // Every mapping each method made (map() returns one per protocol and address).
  const std::vector<PortMapping>& all() const { return all_; }
  const std::vector<std::string>& notes() const { return notes_; }

  struct State;

 private:
  asio::any_io_executor ex_;
  std::shared_ptr<State> state_;
  std::vector<std::string> notes_;
  std::vector<PortMapping> all_;
};

// Waits for every worker thread a PortMapper started (each ends within its deadline). Call it
// after the io_context stopped running and before it is destroyed, and before the process exits.
void join_port_mapping_workers();

}  // namespace ferry::net
