#include "proto/transfer_state.hpp"

#include "proto/names.hpp"

namespace ferry::proto {

FileHasher::FileHasher() {
  crypto_generichash_init(&state_, nullptr, 0, crypto_generichash_BYTES);
}

void FileHasher::update(ByteView data) {
  crypto_generichash_update(&state_, data.data(), data.size());
}

FileHash FileHasher::finish() {
  FileHash out{};
  crypto_generichash_final(&state_, out.data(), out.size());
  crypto_generichash_init(&state_, nullptr, 0, crypto_generichash_BYTES);
  return out;
}

ReceiveTracker::ReceiveTracker(const Offer& offer, std::vector<std::uint64_t> start_offsets,
                               HashScope scope)
    : offer_(offer), position_(std::move(start_offsets)), scope_(scope) {
  position_.resize(offer_.entries.size(), 0);
  // A streamed file cannot be resumed: it starts at 0 whatever was asked.
  for (std::size_t i = 0; i < offer_.entries.size(); ++i) {
    if (offer_.entries[i].streamed) position_[i] = 0;
  }
  skip_directories();
}

void ReceiveTracker::skip_directories() {
  while (current_ < offer_.entries.size() &&
         offer_.entries[current_].kind == OfferEntry::Kind::directory) {
    ++current_;
  }
}

void ReceiveTracker::absorb_prefix(std::uint32_t file, ByteView data) {
  if (file == current_) hasher_.update(data);
}

Result<void> ReceiveTracker::on_chunk(const msg::Chunk& chunk) {
  if (chunk.file != current_ || current_ >= offer_.entries.size()) {
    return fail(Errc::protocol, "a chunk arrived for the wrong file");
  }
  const auto& entry = offer_.entries[current_];
  if (chunk.offset != position_[current_]) {
    return fail(Errc::protocol, "a chunk arrived out of order");
  }
  const std::uint64_t limit = entry.streamed ? kMaxFileBytes : entry.size;
  if (chunk.data.size() > limit - chunk.offset) {
    return fail(Errc::protocol, "\"" + display_name(entry.path) + "\" grew past its offered size");
  }
  if (scope_ == HashScope::whole_file) hasher_.update(chunk.data);
  position_[current_] += chunk.data.size();
  received_ += chunk.data.size();
  return {};
}

Result<void> ReceiveTracker::on_file_end(const msg::FileEnd& end) {
  if (end.file != current_ || current_ >= offer_.entries.size()) {
    return fail(Errc::protocol, "a file ended out of order");
  }
  const auto& entry = offer_.entries[current_];
  if (!entry.streamed && position_[current_] != entry.size) {
    return fail(Errc::protocol,
                "\"" + display_name(entry.path) + "\" ended before its offered size");
  }
  const FileHash got = hasher_.finish();
  if (!equal_ct(got, end.hash)) {
    return fail(Errc::integrity, "\"" + display_name(entry.path) +
                                     "\" does not match the sender's hash; it was not saved");
  }
  ++current_;
  skip_directories();
  return {};
}

Result<void> ReceiveTracker::on_done() const {
  if (current_ != offer_.entries.size()) {
    return fail(Errc::protocol, "the sender finished before sending every file");
  }
  return {};
}

}  // namespace ferry::proto
