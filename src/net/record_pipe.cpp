#include "net/record_pipe.hpp"

#include "net/tcp.hpp"

namespace ferry::net {

using proto::Errc;

namespace {
// How long a person's Ctrl-C waits for its abort record to be acknowledged (QUIC): inside the
// command's 1.5 s grace for the whole cancellation.
constexpr auto kAbortAcknowledged = std::chrono::milliseconds(1000);

proto::Error io_failure(const ByteStream& s, const error_code& ec, const std::string& where) {
  if (auto said = s.end_reason()) return *said;
  if (ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::broken_pipe) {
    return {Errc::peer_gone, "the connection (" + where + ") closed unexpectedly"};
  }
  // The kernel's own verdict (keepalive probes unanswered, tune_for_bulk), not a deadline of ours.
  if (ec == asio::error::timed_out) {
    return {Errc::peer_gone, "the connection (" + where +
                                 ") went silent: the other side stopped answering (the path to "
                                 "it broke)"};
  }
  return {Errc::peer_gone, "the connection (" + where + ") failed: " + describe(ec)};
}
}  // namespace

RecordPipe::RecordPipe(std::unique_ptr<ByteStream> stream, std::string description)
    : stream_(std::move(stream)), description_(std::move(description)) {}

awaitable<proto::Result<void>> RecordPipe::start(const proto::Key& send_key,
                                                 const proto::Key& receive_key,
                                                 proto::RecordCipher cipher,
                                                 std::chrono::milliseconds timeout) {
  sealer_.emplace(send_key, sent_header_.data(), cipher);
  error_code ec;
  stream_->expires_after(timeout);
  co_await stream_->write(asio::buffer(sent_header_), ec);
  if (ec) co_return std::unexpected(io_failure(*stream_, ec, description_));
  std::array<std::uint8_t, proto::kRecordHeaderBytes> peer{};
  stream_->expires_after(timeout);
  co_await read_exact(*stream_, asio::buffer(peer), ec);
  stream_->expires_never();
  if (ec) co_return std::unexpected(io_failure(*stream_, ec, description_));
  auto opener = proto::RecordOpener::start(receive_key, peer, cipher);
  if (!opener) co_return std::unexpected(opener.error());
  received_header_ = peer;
  opener_ = std::move(*opener);
  co_return proto::Result<void>{};
}

awaitable<proto::Result<void>> RecordPipe::send(const proto::PipeMessage& m, bool final) {
  const proto::Bytes plain = proto::encode(m);
  co_return co_await send_record(plain, final);
}

awaitable<proto::Result<void>> RecordPipe::send_record(proto::ByteView plaintext, bool final) {
  if (held_) co_return proto::fail(proto::Errc::interrupted, "interrupted");
  co_return co_await write_record(plaintext, final);
}

awaitable<proto::Result<void>> RecordPipe::write_record(proto::ByteView plaintext, bool final) {
  out_.clear();
  sealer_->seal(plaintext, final, out_);
  error_code ec;
  writing_ = true;
  co_await stream_->write(asio::buffer(out_), ec);
  writing_ = false;
  if (ec) co_return std::unexpected(io_failure(*stream_, ec, description_));
  co_return proto::Result<void>{};
}

awaitable<void> RecordPipe::abort(const proto::PipeMessage& m) {
  held_ = true;
  if (!sealer_) co_return;  // the record layer never started: nothing to say it with
  asio::steady_timer poll(co_await asio::this_coro::executor);
  while (writing_) {
    poll.expires_after(std::chrono::milliseconds(5));
    error_code ec;
    co_await poll.async_wait(redirect(ec));
  }
  const proto::Bytes plain = proto::encode(m);
  // No reading here: the transfer's own reader goes on draining what the peer still sends, so
  // this record is not destroyed by a reset when the connection closes. On QUIC, closing destroys
  // what is not acknowledged yet (a lost packet is never sent again): wait for that, briefly.
  if (co_await write_record(plain, true)) co_await stream_->acknowledged(kAbortAcknowledged);
}

awaitable<proto::Result<proto::ByteView>> RecordPipe::receive(std::chrono::milliseconds timeout) {
  std::array<std::uint8_t, proto::kRecordLengthBytes> prefix{};
  error_code ec;
  if (timeout.count() > 0) stream_->expires_after(timeout);
  co_await read_exact(*stream_, asio::buffer(prefix), ec);
  if (ec) co_return std::unexpected(io_failure(*stream_, ec, description_));
  auto len = proto::RecordOpener::frame_length(prefix.data());
  if (!len) co_return std::unexpected(len.error());
  in_.resize(*len);
  co_await read_exact(*stream_, asio::buffer(in_), ec);
  if (timeout.count() > 0) stream_->expires_never();
  if (ec) co_return std::unexpected(io_failure(*stream_, ec, description_));
  bool final = false;
  auto r = opener_->open(in_, plain_, final);
  if (!r) co_return std::unexpected(r.error());
  co_return proto::ByteView(plain_);
}

awaitable<proto::Result<proto::PipeMessage>> RecordPipe::receive_message(
    std::chrono::milliseconds timeout) {
  auto rec = co_await receive(timeout);
  if (!rec) co_return std::unexpected(rec.error());
  co_return proto::decode_pipe_message(*rec);
}

awaitable<void> RecordPipe::close_gracefully(std::chrono::milliseconds timeout) {
  co_await stream_->close_gracefully(timeout);
}

awaitable<proto::Result<void>> RecordPipe::send_last(const proto::PipeMessage& m,
                                                     std::chrono::milliseconds grace) {
  auto sent = co_await send(m, true);
  if (sent) co_await stream_->close_gracefully(grace);
  co_return sent;
}

void RecordPipe::close() {
  stream_->close();
}

}  // namespace ferry::net
