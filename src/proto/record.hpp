// The record layer that protects every byte-stream pipe (direct TCP, relay): one libsodium
// secretstream (XChaCha20-Poly1305) per direction, keyed from the PAKE. Wire format:
//   header (24 bytes, once) then records: u32 big-endian ciphertext length || ciphertext.
// The last record carries TAG_FINAL, so a truncated stream is detected. Sans-I/O.
#pragma once

#include <sodium.h>

#include "proto/key_schedule.hpp"

namespace ferry::proto {

inline constexpr std::size_t kRecordHeaderBytes = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
inline constexpr std::size_t kRecordOverhead = crypto_secretstream_xchacha20poly1305_ABYTES;
inline constexpr std::size_t kRecordLengthBytes = 4;
inline constexpr std::size_t kMaxRecordPlaintext = 1 << 20;

class RecordSealer {
 public:
  // Fills header_out (kRecordHeaderBytes) with a fresh random header.
  RecordSealer(const Key& key, std::uint8_t* header_out);

  // Appends the framed record (length prefix + ciphertext) to out.
  void seal(ByteView plaintext, bool final, Bytes& out);

 private:
  crypto_secretstream_xchacha20poly1305_state state_{};
};

class RecordOpener {
 public:
  static Result<RecordOpener> start(const Key& key, ByteView header);

  // Validates a record's length prefix; returns the ciphertext length that follows.
  static Result<std::size_t> frame_length(const std::uint8_t* prefix);

  // Opens one record's ciphertext into out (resized). final is set when it carried TAG_FINAL.
  Result<void> open(ByteView ciphertext, Bytes& out, bool& final);

  bool finished() const { return finished_; }

 private:
  crypto_secretstream_xchacha20poly1305_state state_{};
  bool finished_ = false;
};

// Incremental parser over a byte stream, for callers that receive arbitrary fragments (tests,
// fuzzers, WebSocket frames): feed bytes, then take records while they are complete.
class RecordParser {
 public:
  explicit RecordParser(const Key& key) : key_(key) {}
  void feed(ByteView bytes) { append(buffer_, bytes); }
  // Returns true and fills out when one record is complete; false when more bytes are needed.
  Result<bool> next(Bytes& out, bool& final);

 private:
  Key key_;
  Bytes buffer_;
  std::size_t pos_ = 0;
  std::optional<RecordOpener> opener_;
};

}  // namespace ferry::proto
