// CPace over ristretto255 with SHA-512, as specified in draft-irtf-cfrg-cpace-13
// (initiator-responder mode). Sans-I/O: the caller supplies the secret scalar (randomness) and
// carries the messages.
#pragma once

#include <array>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::proto {

inline constexpr std::size_t kCpacePointBytes = 32;
inline constexpr std::size_t kCpaceScalarBytes = 32;
inline constexpr std::size_t kCpaceIskBytes = 64;

using CpacePoint = std::array<std::uint8_t, kCpacePointBytes>;
using CpaceScalar = std::array<std::uint8_t, kCpaceScalarBytes>;
using CpaceIsk = std::array<std::uint8_t, kCpaceIskBytes>;

// generator_string(DSI, PRS, CI, sid, 128) from the draft.
Bytes cpace_generator_string(ByteView prs, ByteView ci, ByteView sid);
// The encoded generator g = ristretto255 one-way map of SHA-512(generator_string).
Result<CpacePoint> cpace_generator(ByteView prs, ByteView ci, ByteView sid);

// One party's state between sending its share and receiving the peer's.
class Cpace {
 public:
  enum class Role { initiator, responder };

  static Result<Cpace> start(Role role, ByteView prs, ByteView ci, ByteView sid, ByteView ad,
                             const CpaceScalar& scalar);

  const CpacePoint& share() const { return share_; }

  // Computes ISK from the peer's share; fails when the share is invalid or yields the identity.
  Result<CpaceIsk> finish(const CpacePoint& peer_share, ByteView peer_ad) const;

 private:
  Role role_ = Role::initiator;
  CpaceScalar scalar_{};
  CpacePoint share_{};
  Bytes sid_;
  Bytes ad_;
};

}  // namespace ferry::proto
