// Byte buffers and the small encodings every codec shares: hex, base64url, big-endian integers, and
// CPace's length-value concatenation (LEB128 length prefixes).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ferry::proto {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

ByteView as_bytes(std::string_view s);
std::string to_hex(ByteView b);
std::optional<Bytes> from_hex(std::string_view s);
std::string to_base64url(ByteView b);  // no padding
std::optional<Bytes> from_base64url(std::string_view s);
std::string to_base64(ByteView b);  // standard alphabet, padded (for JSON bodies)
std::optional<Bytes> from_base64(std::string_view s);

void append(Bytes& out, ByteView b);
void append_u8(Bytes& out, std::uint8_t v);
void append_u16(Bytes& out, std::uint16_t v);
void append_u32(Bytes& out, std::uint32_t v);
void append_u64(Bytes& out, std::uint64_t v);
std::uint16_t read_u16(const std::uint8_t* p);
std::uint32_t read_u32(const std::uint8_t* p);
std::uint64_t read_u64(const std::uint8_t* p);

// prepend_len(data) from the CPace draft: LEB128 length, then the data.
void append_lv(Bytes& out, ByteView b);

// Constant-time comparison of two equally sized buffers.
bool equal_ct(ByteView a, ByteView b);

// A cursor for decoders: every read checks bounds.
class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}
  bool u8(std::uint8_t& v);
  bool u32(std::uint32_t& v);
  bool u64(std::uint64_t& v);
  bool take(std::size_t n, ByteView& v);
  ByteView rest();
  bool empty() const { return pos_ == data_.size(); }

 private:
  ByteView data_;
  std::size_t pos_ = 0;
};

}  // namespace ferry::proto
