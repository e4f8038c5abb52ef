// Keys derived from CPace's ISK: one key per purpose and direction, so no key is ever used twice
// for different jobs. BLAKE2b keyed with the ISK, the label as input (libsodium has no HKDF).
#pragma once

#include <array>
#include <string_view>

#include "proto/cpace.hpp"

namespace ferry::proto {

using Key = std::array<std::uint8_t, 32>;

// Which side of a transfer; the sender is CPace's initiator.
enum class Side { sender, receiver };

struct SessionKeys {
  Key confirm_sender;    // key confirmation MAC from the sender
  Key confirm_receiver;  // key confirmation MAC from the receiver
  Key mailbox_sender;    // secretbox for mailbox messages the sender writes
  Key mailbox_receiver;
  Key stream_sender;  // secretstream for pipe bytes the sender writes
  Key stream_receiver;
  Key punch;  // MACs on UDP hole-punching probes (proto/punch.hpp), both directions
  Key hello;  // binds each pipe's hellos to that pipe's two stream headers
};

Key derive_key(const CpaceIsk& isk, std::string_view label);
SessionKeys derive_session_keys(const CpaceIsk& isk);

// Key confirmation tag: BLAKE2b-256 keyed with the side's confirm key over the transcript.
Key confirmation_tag(const Key& confirm_key, ByteView transcript);

// The pipe hello's channel binding: BLAKE2b-256 keyed with the hello key over
// "ferry-v1 hello" || side (0 sender, 1 receiver) || the sender's stream header || the receiver's.
// Headers are fresh per pipe, so a hello recorded on one pipe authenticates no other.
Key hello_binding(const Key& hello_key, Side side, ByteView sender_header,
                  ByteView receiver_header);

}  // namespace ferry::proto
