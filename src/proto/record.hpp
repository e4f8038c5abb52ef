// The record layer that protects every byte-stream pipe (direct TCP, relay): one AEAD stream per
// direction, keyed from the PAKE. Wire format:
//   header (24 random bytes, once) then records: u32 big-endian ciphertext length || ciphertext.
// The last record is tagged final, so a truncated stream is detected. Two ciphers, both with 17
// bytes of overhead per record:
//  - xchacha20poly1305 (the first protocol, any CPU): libsodium's secretstream, whose header it
//    is; the tag travels inside the ciphertext.
//  - aes256gcm (the feature of that name, when both sides have hardware AES): the key is
//    BLAKE2b-256(key = the direction's stream key, the header), so every pipe has its own; the
//    nonce is a 96-bit record counter (0, 1, 2, ...; never reused under one key); a record is
//    tag byte (0 message, 1 final; in the clear and authenticated as associated data) ||
//    AES-256-GCM ciphertext || 16-byte tag. Sealed and opened by OpenSSL (VAES/AVX-512 where
//    the CPU has them: several times libsodium's AES-NI code, which capped a transfer on two
//    cores); standard GCM, so records are the same bytes libsodium's crypto_aead_aes256gcm
//    makes (tested).
// Sans-I/O.
#pragma once

#include <sodium.h>

#include <memory>

#include "proto/key_schedule.hpp"

struct evp_cipher_ctx_st;

namespace ferry::proto {

// One AES-256-GCM key, ready for records under it (an OpenSSL cipher context).
class AesGcmKey {
 public:
  AesGcmKey() = default;
  AesGcmKey(ByteView key, bool encrypt);
  // Seals/opens one record body: out gets n bytes and, when sealing, the 16-byte tag after them.
  void seal(const std::uint8_t* nonce, ByteView aad, ByteView plaintext, std::uint8_t* out);
  bool open(const std::uint8_t* nonce, ByteView aad, ByteView ciphertext, const std::uint8_t* tag,
            std::uint8_t* out);

 private:
  struct Free {
    void operator()(evp_cipher_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_cipher_ctx_st, Free> ctx_;
};

inline constexpr std::size_t kRecordHeaderBytes = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
inline constexpr std::size_t kRecordOverhead = crypto_secretstream_xchacha20poly1305_ABYTES;
inline constexpr std::size_t kRecordLengthBytes = 4;
inline constexpr std::size_t kMaxRecordPlaintext = 1 << 20;

enum class RecordCipher : std::uint8_t { xchacha20poly1305, aes256gcm };
// Whether this CPU runs AES-256-GCM in hardware (libsodium's condition for offering it at all).
bool aes256gcm_available();

class RecordSealer {
 public:
  // Fills header_out (kRecordHeaderBytes) with a fresh random header. aes256gcm only where
  // aes256gcm_available().
  RecordSealer(const Key& key, std::uint8_t* header_out,
               RecordCipher cipher = RecordCipher::xchacha20poly1305);

  // Appends the framed record (length prefix + ciphertext) to out.
  void seal(ByteView plaintext, bool final, Bytes& out);

 private:
  RecordCipher cipher_;
  crypto_secretstream_xchacha20poly1305_state state_{};
  AesGcmKey aes_;
  std::uint64_t counter_ = 0;
};

class RecordOpener {
 public:
  static Result<RecordOpener> start(const Key& key, ByteView header,
                                    RecordCipher cipher = RecordCipher::xchacha20poly1305);

  // Validates a record's length prefix; returns the ciphertext length that follows.
  static Result<std::size_t> frame_length(const std::uint8_t* prefix);

  // Opens one record's ciphertext into out (resized). final is set when it carried TAG_FINAL.
  Result<void> open(ByteView ciphertext, Bytes& out, bool& final);

  bool finished() const { return finished_; }

 private:
  RecordCipher cipher_ = RecordCipher::xchacha20poly1305;
  crypto_secretstream_xchacha20poly1305_state state_{};
  AesGcmKey aes_;
  std::uint64_t counter_ = 0;
  bool finished_ = false;
};

// Incremental parser over a byte stream, for callers that receive arbitrary fragments (tests,
// fuzzers, WebSocket frames): feed bytes, then take records while they are complete.
class RecordParser {
 public:
  explicit RecordParser(const Key& key, RecordCipher cipher = RecordCipher::xchacha20poly1305)
      : key_(key), cipher_(cipher) {}
  void feed(ByteView bytes) { append(buffer_, bytes); }
  // Returns true and fills out when one record is complete; false when more bytes are needed.
  Result<bool> next(Bytes& out, bool& final);

 private:
  Key key_;
  RecordCipher cipher_;
  Bytes buffer_;
  std::size_t pos_ = 0;
  std::optional<RecordOpener> opener_;
};

}  // namespace ferry::proto
