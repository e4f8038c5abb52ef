#include "proto/key_schedule.hpp"

#include <sodium.h>

namespace ferry::proto {

Key derive_key(const CpaceIsk& isk, std::string_view label) {
  Key out{};
  const std::string full = "ferry-v1 " + std::string(label);
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(full.data()),
                     full.size(), isk.data(), isk.size());
  return out;
}

SessionKeys derive_session_keys(const CpaceIsk& isk) {
  return SessionKeys{
      .confirm_sender = derive_key(isk, "confirm sender"),
      .confirm_receiver = derive_key(isk, "confirm receiver"),
      .mailbox_sender = derive_key(isk, "mailbox sender"),
      .mailbox_receiver = derive_key(isk, "mailbox receiver"),
      .stream_sender = derive_key(isk, "stream sender"),
      .stream_receiver = derive_key(isk, "stream receiver"),
      .punch = derive_key(isk, "punch"),
      .hello = derive_key(isk, "hello"),
  };
}

Key confirmation_tag(const Key& confirm_key, ByteView transcript) {
  Key out{};
  crypto_generichash(out.data(), out.size(), transcript.data(), transcript.size(),
                     confirm_key.data(), confirm_key.size());
  return out;
}

Key hello_binding(const Key& hello_key, Side side, ByteView sender_header,
                  ByteView receiver_header) {
  Bytes input = {'f', 'e', 'r', 'r', 'y', '-', 'v', '1', ' ', 'h', 'e', 'l', 'l', 'o'};
  input.push_back(side == Side::sender ? 0 : 1);
  append(input, sender_header);
  append(input, receiver_header);
  Key out{};
  crypto_generichash(out.data(), out.size(), input.data(), input.size(), hello_key.data(),
                     hello_key.size());
  return out;
}

}  // namespace ferry::proto
