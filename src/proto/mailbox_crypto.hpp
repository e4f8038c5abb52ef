// Encryption of the messages the peers exchange through the rendezvous mailbox after the PAKE.
// XSalsa20-Poly1305 (secretbox) with a per-direction key and a counter nonce: the server relays
// them in order, so any replay, drop or reorder fails to open.
#pragma once

#include <cstdint>

#include "proto/key_schedule.hpp"

namespace ferry::proto {

class MailboxSealer {
 public:
  explicit MailboxSealer(const Key& key) : key_(key) {}
  Bytes seal(ByteView plaintext);

 private:
  Key key_;
  std::uint64_t counter_ = 0;
};

class MailboxOpener {
 public:
  explicit MailboxOpener(const Key& key) : key_(key) {}
  Result<Bytes> open(ByteView ciphertext);

 private:
  Key key_;
  std::uint64_t counter_ = 0;
};

}  // namespace ferry::proto
