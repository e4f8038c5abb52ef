#include "proto/punch.hpp"

#include <sodium.h>

#include <algorithm>

#include "proto/relay_udp.hpp"
#include "proto/stun.hpp"

namespace ferry::proto {

namespace {
constexpr std::size_t kSignedBytes = 10;
constexpr std::size_t kMacBytes = 16;

std::array<std::uint8_t, kMacBytes> probe_mac(ByteView signed_part, const Key& key) {
  std::array<std::uint8_t, kMacBytes> mac{};
  crypto_generichash(mac.data(), mac.size(), signed_part.data(), signed_part.size(), key.data(),
                     key.size());
  return mac;
}
}  // namespace

DatagramKind classify_datagram(ByteView d) {
  if (d.size() == kProbeBytes && (d[0] == static_cast<std::uint8_t>(ProbeKind::ping) ||
                                  d[0] == static_cast<std::uint8_t>(ProbeKind::pong))) {
    return DatagramKind::probe;
  }
  if (looks_like_stun(d) && d[4] == 0x21 && d[5] == 0x12 && d[6] == 0xA4 && d[7] == 0x42) {
    return DatagramKind::stun;
  }
  if (d.size() == kRelayAnswerBytes &&
      std::equal(kRelayAnswerMagic.begin(), kRelayAnswerMagic.end(), d.begin())) {
    return DatagramKind::relay;
  }
  return DatagramKind::quic;
}

Bytes encode_probe(const Probe& probe, const Key& key) {
  Bytes out{static_cast<std::uint8_t>(probe.kind),
            static_cast<std::uint8_t>(probe.from == Side::sender ? 0 : 1)};
  append(out, probe.nonce);
  append(out, probe_mac(out, key));
  return out;
}

std::optional<Probe> decode_probe(ByteView d, const Key& key) {
  if (classify_datagram(d) != DatagramKind::probe || d[1] > 1) return std::nullopt;
  const auto mac = probe_mac(d.subspan(0, kSignedBytes), key);
  if (sodium_memcmp(mac.data(), d.data() + kSignedBytes, kMacBytes) != 0) return std::nullopt;
  Probe p;
  p.kind = static_cast<ProbeKind>(d[0]);
  p.from = d[1] == 0 ? Side::sender : Side::receiver;
  std::copy_n(d.begin() + 2, p.nonce.size(), p.nonce.begin());
  return p;
}

}  // namespace ferry::proto
