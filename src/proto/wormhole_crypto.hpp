// magic-wormhole's key schedule and boxes: HKDF-SHA256 purposes derived from the SPAKE2 key, the
// phase messages sealed with NaCl secretbox under per-side keys, and the transit protocol's
// handshake lines and counter-nonce records. Sans-I/O: nonces come from the caller.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "proto/bytes.hpp"
#include "proto/error.hpp"
#include "proto/wormhole_spake2.hpp"

namespace ferry::proto {

inline constexpr std::string_view kWormholeAppId = "lothar.com/wormhole/text-or-file-xfer";
inline constexpr std::size_t kSecretboxNonceBytes = 24;
using SecretboxNonce = std::array<std::uint8_t, kSecretboxNonceBytes>;

// RFC 5869 HKDF with SHA-256 and an empty salt, as the Python `hkdf` package computes it.
Bytes hkdf_sha256(ByteView input_key, ByteView info, std::size_t length);

// wormhole's derive_key(key, purpose) (32 bytes).
WormholeKey wormhole_derive_key(const WormholeKey& key, ByteView purpose);
// derive_phase_key: the key one side seals one phase's message with.
WormholeKey wormhole_phase_key(const WormholeKey& key, std::string_view side,
                               std::string_view phase);
// encrypt_data / decrypt_data: nonce || secretbox(plaintext).
Bytes wormhole_seal(const WormholeKey& key, ByteView plaintext, const SecretboxNonce& nonce);
Result<Bytes> wormhole_open(const WormholeKey& key, ByteView sealed);

// The file-transfer application's transit key and the lines each transit connection opens with.
WormholeKey wormhole_transit_key(const WormholeKey& key);
std::string transit_sender_handshake(const WormholeKey& transit_key);    // "...ready\n\n"
std::string transit_receiver_handshake(const WormholeKey& transit_key);  // "...ready\n\n"
// To a transit relay: "please relay TOKEN for side SIDE\n" (side: 16 hex digits).
std::string transit_relay_handshake(const WormholeKey& transit_key, std::string_view side);

// SHA-256 over a transfer's bytes (the transit ack), by OpenSSL: SHA-NI where the CPU has it,
// several times libsodium's portable code, which would otherwise cap a transfer.
class Sha256Stream {
 public:
  Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  ~Sha256Stream();
  void update(ByteView data);
  std::string hex_digest();  // once

 private:
  void* ctx_;  // EVP_MD_CTX
};

enum class TransitRole { sender, receiver };
// What a transit record adds to its plaintext besides the length prefix: nonce and MAC.
inline constexpr std::size_t kTransitRecordOverhead = kSecretboxNonceBytes + 16;

// Transit records: 4-byte big-endian length, then the 24-byte big-endian counter nonce and the
// secretbox. Each direction has its own key; a record out of order does not open.
class TransitRecords {
 public:
  TransitRecords(const WormholeKey& transit_key, TransitRole role);

  Bytes seal(ByteView plaintext);  // with its length prefix
  // One record's body (without the length prefix).
  Result<Bytes> open(ByteView record);
  // The same into out, which has room for record.size() - kTransitRecordOverhead bytes;
  // returns the plaintext's size.
  Result<std::size_t> open_into(ByteView record, std::uint8_t* out);

 private:
  WormholeKey send_key_{};
  WormholeKey receive_key_{};
  std::uint64_t sent_ = 0;
  std::uint64_t received_ = 0;
};

}  // namespace ferry::proto
