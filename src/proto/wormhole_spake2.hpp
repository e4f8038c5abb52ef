// SPAKE2 in python-spake2's symmetric mode over Ed25519, as magic-wormhole uses it to turn a
// wormhole code into a shared key. Sans-I/O: the caller supplies the secret scalar.
#pragma once

#include <array>
#include <cstdint>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::proto {

inline constexpr std::size_t kSpake2MessageBytes = 33;  // side byte 'S' + an Ed25519 point

using Ed25519Scalar = std::array<std::uint8_t, 32>;
using Spake2Message = std::array<std::uint8_t, kSpake2MessageBytes>;
using WormholeKey = std::array<std::uint8_t, 32>;

// python-spake2's password_to_scalar: HKDF-SHA256(pw, info "SPAKE2 pw") to 48 bytes, read
// big-endian, reduced mod L; little-endian like every Ed25519 scalar here.
Ed25519Scalar spake2_password_scalar(ByteView password);

class Spake2Symmetric {
 public:
  // scalar: uniformly random below L (crypto_core_ed25519_scalar_random).
  static Result<Spake2Symmetric> start(ByteView password, ByteView id, const Ed25519Scalar& scalar);

  const Spake2Message& message() const { return message_; }

  // The shared key from the peer's message; a malformed or reflected message is an error.
  // A wrong password is not detected here: the keys simply differ.
  Result<WormholeKey> finish(ByteView peer_message) const;

 private:
  Bytes password_;
  Bytes id_;
  Ed25519Scalar scalar_{};
  std::array<std::uint8_t, 32> blinding_{};  // S * password scalar
  Spake2Message message_{};
};

}  // namespace ferry::proto
