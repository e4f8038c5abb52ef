#include "proto/bytes.hpp"

#include <sodium.h>

namespace ferry::proto {

ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string to_hex(ByteView b) {
  std::string out(b.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), b.data(), b.size());
  out.pop_back();
  return out;
}

std::optional<Bytes> from_hex(std::string_view s) {
  if (s.size() % 2 != 0) return std::nullopt;
  if (s.empty()) return Bytes{};  // libsodium's buffers are declared non-null
  Bytes out(s.size() / 2);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), s.data(), s.size(), nullptr, &len, &end) != 0 ||
      len != out.size() || end != s.data() + s.size()) {
    return std::nullopt;
  }
  return out;
}

namespace {
std::string b64_encode(ByteView b, int variant) {
  std::string out(sodium_base64_encoded_len(b.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), b.data(), b.size(), variant);
  out.resize(out.size() - 1);  // drop the terminating NUL
  return out;
}

std::optional<Bytes> b64_decode(std::string_view s, int variant) {
  Bytes out(s.size() * 3 / 4 + 3);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), s.data(), s.size(), nullptr, &len, &end, variant) !=
          0 ||
      end != s.data() + s.size()) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}
}  // namespace

std::string to_base64url(ByteView b) {
  return b64_encode(b, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}
std::optional<Bytes> from_base64url(std::string_view s) {
  return b64_decode(s, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}
std::string to_base64(ByteView b) {
  return b64_encode(b, sodium_base64_VARIANT_ORIGINAL);
}
std::optional<Bytes> from_base64(std::string_view s) {
  return b64_decode(s, sodium_base64_VARIANT_ORIGINAL);
}

void append(Bytes& out, ByteView b) {
  out.insert(out.end(), b.begin(), b.end());
}
void append_u8(Bytes& out, std::uint8_t v) {
  out.push_back(v);
}
void append_u32(Bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}
void append_u64(Bytes& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}
std::uint16_t read_u16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
void append_u16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
std::uint32_t read_u32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
std::uint64_t read_u64(const std::uint8_t* p) {
  return (std::uint64_t{read_u32(p)} << 32) | read_u32(p + 4);
}

void append_lv(Bytes& out, ByteView b) {
  std::size_t len = b.size();
  do {
    std::uint8_t byte = len & 0x7f;
    len >>= 7;
    if (len != 0) byte |= 0x80;
    out.push_back(byte);
  } while (len != 0);
  append(out, b);
}

bool equal_ct(ByteView a, ByteView b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool Reader::u8(std::uint8_t& v) {
  if (data_.size() - pos_ < 1) return false;
  v = data_[pos_++];
  return true;
}
bool Reader::u32(std::uint32_t& v) {
  if (data_.size() - pos_ < 4) return false;
  v = read_u32(data_.data() + pos_);
  pos_ += 4;
  return true;
}
bool Reader::u64(std::uint64_t& v) {
  if (data_.size() - pos_ < 8) return false;
  v = read_u64(data_.data() + pos_);
  pos_ += 8;
  return true;
}
bool Reader::take(std::size_t n, ByteView& v) {
  if (data_.size() - pos_ < n) return false;
  v = data_.subspan(pos_, n);
  pos_ += n;
  return true;
}
ByteView Reader::rest() {
  ByteView v = data_.subspan(pos_);
  pos_ = data_.size();
  return v;
}

}  // namespace ferry::proto
