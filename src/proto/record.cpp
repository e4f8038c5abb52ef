#include "proto/record.hpp"

namespace ferry::proto {

RecordSealer::RecordSealer(const Key& key, std::uint8_t* header_out) {
  crypto_secretstream_xchacha20poly1305_init_push(&state_, header_out, key.data());
}

void RecordSealer::seal(ByteView plaintext, bool final, Bytes& out) {
  const std::size_t start = out.size();
  const std::size_t clen = plaintext.size() + kRecordOverhead;
  out.resize(start + kRecordLengthBytes + clen);
  std::uint8_t* p = out.data() + start;
  p[0] = static_cast<std::uint8_t>(clen >> 24);
  p[1] = static_cast<std::uint8_t>(clen >> 16);
  p[2] = static_cast<std::uint8_t>(clen >> 8);
  p[3] = static_cast<std::uint8_t>(clen);
  const std::uint8_t tag = final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                 : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  crypto_secretstream_xchacha20poly1305_push(&state_, p + kRecordLengthBytes, nullptr,
                                             plaintext.data(), plaintext.size(), nullptr, 0, tag);
}

Result<RecordOpener> RecordOpener::start(const Key& key, ByteView header) {
  RecordOpener o;
  if (header.size() != kRecordHeaderBytes ||
      crypto_secretstream_xchacha20poly1305_init_pull(&o.state_, header.data(), key.data()) != 0) {
    return fail(Errc::protocol, "bad record stream header");
  }
  return o;
}

Result<std::size_t> RecordOpener::frame_length(const std::uint8_t* prefix) {
  const std::size_t len = read_u32(prefix);
  if (len < kRecordOverhead || len > kMaxRecordPlaintext + kRecordOverhead) {
    return fail(Errc::protocol, "record length out of range");
  }
  return len;
}

Result<void> RecordOpener::open(ByteView ciphertext, Bytes& out, bool& final) {
  if (finished_) return fail(Errc::protocol, "record after the final record");
  if (ciphertext.size() < kRecordOverhead) return fail(Errc::protocol, "record too short");
  out.resize(ciphertext.size() - kRecordOverhead);
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(&state_, out.data(), nullptr, &tag,
                                                 ciphertext.data(), ciphertext.size(), nullptr,
                                                 0) != 0) {
    return fail(Errc::protocol, "record failed authentication (tampered, reordered or wrong key)");
  }
  final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  finished_ = final;
  return {};
}

Result<bool> RecordParser::next(Bytes& out, bool& final) {
  const std::size_t avail = buffer_.size() - pos_;
  if (!opener_) {
    if (avail < kRecordHeaderBytes) return false;
    auto o = RecordOpener::start(key_, ByteView(buffer_).subspan(pos_, kRecordHeaderBytes));
    if (!o) return std::unexpected(o.error());
    opener_ = *o;
    pos_ += kRecordHeaderBytes;
    return next(out, final);
  }
  if (buffer_.size() - pos_ < kRecordLengthBytes) return false;
  auto len = RecordOpener::frame_length(buffer_.data() + pos_);
  if (!len) return std::unexpected(len.error());
  if (buffer_.size() - pos_ < kRecordLengthBytes + *len) return false;
  auto r = opener_->open(ByteView(buffer_).subspan(pos_ + kRecordLengthBytes, *len), out, final);
  if (!r) return std::unexpected(r.error());
  pos_ += kRecordLengthBytes + *len;
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  return true;
}

}  // namespace ferry::proto
