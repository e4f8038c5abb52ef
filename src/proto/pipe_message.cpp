#include "proto/pipe_message.hpp"

#include <algorithm>

namespace ferry::proto {
namespace {

enum Type : std::uint8_t {
  kHello = 1,
  kSelect,
  kOfferPart,
  kAccept,
  kDecline,
  kChunk,
  kFileEnd,
  kDone,
  kAck,
  kAbort,
  kMoved,
};

constexpr std::size_t kMaxReasonBytes = 1024;

void append_string(Bytes& out, std::string_view s) {
  append_u32(out, static_cast<std::uint32_t>(s.size()));
  append(out, as_bytes(s));
}

bool read_string(Reader& r, std::string& s) {
  std::uint32_t n = 0;
  ByteView v;
  if (!r.u32(n) || n > kMaxReasonBytes || !r.take(n, v)) return false;
  s.assign(reinterpret_cast<const char*>(v.data()), v.size());
  return true;
}

struct Encoder {
  Bytes& out;
  void operator()(const msg::Hello& m) {
    out = {kHello, m.side};
    append(out, m.binding);
  }
  void operator()(const msg::Select& m) {
    out = {kSelect};
    if (m.upgrade) out.push_back(1);
  }
  void operator()(const msg::OfferPart& m) {
    out = {kOfferPart, static_cast<std::uint8_t>(m.last ? 1 : 0)};
    append(out, m.json);
  }
  void operator()(const msg::Accept& m) {
    out = {kAccept};
    append_u32(out, static_cast<std::uint32_t>(m.start_offsets.size()));
    for (auto o : m.start_offsets) append_u64(out, o);
  }
  void operator()(const msg::Decline& m) {
    out = {kDecline};
    append_string(out, m.reason);
  }
  void operator()(const msg::Chunk& m) {
    out.resize(kChunkHeaderBytes);
    encode_chunk_header(m.file, m.offset, out.data());
    append(out, m.data);
  }
  void operator()(const msg::FileEnd& m) {
    out = {kFileEnd};
    append_u32(out, m.file);
    append(out, m.hash);
  }
  void operator()(const msg::Done&) { out = {kDone}; }
  void operator()(const msg::Ack&) { out = {kAck}; }
  void operator()(const msg::Moved& m) {
    // Sized first (g++ 12 misreads an insert after a one-byte list as out of bounds).
    out.assign(m.to ? 1 + m.to->size() : 1, kMoved);
    if (m.to) std::copy(m.to->begin(), m.to->end(), out.begin() + 1);
  }
  void operator()(const msg::Abort& m) {
    out = {kAbort};
    append_string(out, m.code);
    append_string(out, m.message);
  }
};

}  // namespace

void encode_chunk_header(std::uint32_t file, std::uint64_t offset, std::uint8_t* out) {
  out[0] = kChunk;
  for (int i = 0; i < 4; ++i) out[1 + i] = static_cast<std::uint8_t>(file >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) out[5 + i] = static_cast<std::uint8_t>(offset >> (56 - 8 * i));
}

Bytes encode(const PipeMessage& m) {
  Bytes out;
  std::visit(Encoder{out}, m);
  return out;
}

Result<PipeMessage> decode_pipe_message(ByteView record) {
  Reader r(record);
  std::uint8_t type = 0;
  if (!r.u8(type)) return fail(Errc::protocol, "empty pipe message");
  const auto malformed = [&] {
    return fail(Errc::protocol, "malformed pipe message of type " + std::to_string(type));
  };
  PipeMessage out;
  switch (type) {
    case kHello: {
      msg::Hello m;
      ByteView b;
      if (!r.u8(m.side) || m.side > 1 || !r.take(m.binding.size(), b) || !r.empty())
        return malformed();
      std::copy(b.begin(), b.end(), m.binding.begin());
      out = m;
      break;
    }
    case kSelect: {
      std::uint8_t upgrade = 0;
      if (!r.empty() && (!r.u8(upgrade) || upgrade != 1)) return malformed();
      out = msg::Select{upgrade == 1};
      break;
    }
    case kOfferPart: {
      std::uint8_t last = 0;
      if (!r.u8(last) || last > 1) return malformed();
      return msg::OfferPart{last == 1, r.rest()};
    }
    case kAccept: {
      std::uint32_t n = 0;
      if (!r.u32(n) || n > (record.size() - 5) / 8) return malformed();
      msg::Accept m;
      m.start_offsets.resize(n);
      for (auto& o : m.start_offsets) r.u64(o);
      out = std::move(m);
      break;
    }
    case kDecline: {
      msg::Decline m;
      if (!read_string(r, m.reason)) return malformed();
      out = std::move(m);
      break;
    }
    case kChunk: {
      msg::Chunk m;
      if (!r.u32(m.file) || !r.u64(m.offset)) return malformed();
      m.data = r.rest();
      return m;
    }
    case kFileEnd: {
      msg::FileEnd m;
      ByteView h;
      if (!r.u32(m.file) || !r.take(m.hash.size(), h)) return malformed();
      std::copy(h.begin(), h.end(), m.hash.begin());
      out = m;
      break;
    }
    case kDone:
      out = msg::Done{};
      break;
    case kAck:
      out = msg::Ack{};
      break;
    case kMoved: {
      msg::Moved m;
      if (!r.empty()) {
        ByteView tag;
        if (!r.take(msg::kPipeTagBytes, tag)) return malformed();
        m.to.emplace();
        std::copy(tag.begin(), tag.end(), m.to->begin());
      }
      out = m;
      break;
    }
    case kAbort: {
      msg::Abort m;
      if (!read_string(r, m.code) || !read_string(r, m.message)) return malformed();
      out = std::move(m);
      break;
    }
    default:
      return fail(Errc::protocol, "unknown pipe message type " + std::to_string(type));
  }
  if (!r.empty()) return malformed();
  return out;
}

namespace msg {
PipeTag pipe_tag(ByteView stream_header) {
  PipeTag t{};
  std::copy_n(stream_header.begin(), std::min(t.size(), stream_header.size()), t.begin());
  return t;
}
}  // namespace msg

Error abort_error(const msg::Abort& abort, std::string_view peer) {
  const Errc code = errc_from_name(abort.code);
  if (code == Errc::cancelled) return {code, std::string(peer) + " cancelled the transfer"};
  return {code, std::string(peer) + " stopped: " + abort.message};
}

}  // namespace ferry::proto
