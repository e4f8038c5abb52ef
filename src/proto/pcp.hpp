// PCP (RFC 6887) MAP requests and responses as a pure codec: how ferry asks a router for a port
// forward when it speaks PCP (the successor of NAT-PMP, on the same UDP port 5351).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::proto {

inline constexpr std::uint16_t kPcpPort = 5351;
inline constexpr std::uint8_t kPcpTcp = 6;
inline constexpr std::uint8_t kPcpUdp = 17;
using PcpNonce = std::array<std::uint8_t, 12>;

struct PcpMapRequest {
  Bytes client_ip;  // 4 or 16 bytes: our address as the router sees it
  std::uint8_t protocol = kPcpTcp;
  std::uint16_t internal_port = 0;
  std::uint16_t suggested_external_port = 0;
  std::uint32_t lifetime = 3600;  // 0 deletes the mapping
  PcpNonce nonce{};
};
Bytes encode_pcp_map(const PcpMapRequest& r);

struct PcpMapResponse {
  std::uint8_t result = 0;  // 0 success
  std::uint32_t lifetime = 0;
  std::uint32_t epoch = 0;
  PcpNonce nonce{};
  std::uint8_t protocol = 0;
  std::uint16_t internal_port = 0;
  std::uint16_t external_port = 0;
  Bytes external_ip;  // 4 bytes for an IPv4-mapped address, else 16
};
Result<PcpMapResponse> decode_pcp_map_response(ByteView datagram);
// RFC 6887's name for a result code ("NOT_AUTHORIZED", ...).
std::string pcp_result_name(std::uint8_t result);

}  // namespace ferry::proto
