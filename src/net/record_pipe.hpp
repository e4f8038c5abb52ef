// A byte-stream pipe (direct TCP, or the relay over TCP, TLS or WebSocket) protected by the record
// layer: both sides write their stream header, then length-prefixed sealed records. Owns
// the stream; one reader and one writer coroutine at a time.
#pragma once

#include <chrono>
#include <optional>

#include "net/byte_stream.hpp"
#include "proto/pipe_message.hpp"
#include "proto/record.hpp"

namespace ferry::net {

class RecordPipe {
 public:
  RecordPipe(std::unique_ptr<ByteStream> stream, std::string description);

  // Writes our stream header and reads the peer's, within timeout. Both sides use one cipher,
  // agreed beforehand (the candidates notes' features).
  awaitable<proto::Result<void>> start(const proto::Key& send_key, const proto::Key& receive_key,
                                       proto::RecordCipher cipher,
                                       std::chrono::milliseconds timeout);

  awaitable<proto::Result<void>> send(const proto::PipeMessage& m, bool final = false);
  awaitable<proto::Result<void>> send_record(proto::ByteView plaintext, bool final = false);

  // The next record's plaintext, valid until the next receive. timeout zero means none.
  awaitable<proto::Result<proto::ByteView>> receive(
      std::chrono::milliseconds timeout = std::chrono::milliseconds::zero());
  // receive() and decode.
  awaitable<proto::Result<proto::PipeMessage>> receive_message(
      std::chrono::milliseconds timeout = std::chrono::milliseconds::zero());

  const std::string& description() const { return description_; }
  // What carries a relayed pipe to the relay ("TCP", "WebSocket", "HTTPS requests"); empty for a
  // direct pipe.
  const std::string& carrier() const { return carrier_; }
  void set_carrier(std::string c) { carrier_ = std::move(c); }
  // The stream headers of this pipe, once started: ours and the peer's (fresh per pipe, so a
  // hello bound to them is bound to this pipe).
  proto::ByteView sent_header() const { return sent_header_; }
  proto::ByteView received_header() const { return received_header_; }
  // The most plaintext worth sending in one record on this pipe (ByteStream::record_bytes).
  std::size_t record_bytes() const { return stream_->record_bytes(); }
  // The stream underneath, for what precedes the record layer (the relay's pairing).
  ByteStream& stream() { return *stream_; }
  void close();
  // A person's Ctrl-C: the transfer's own writes fail from now on; once a write in progress has
  // finished, m goes out as the last record, and on QUIC it waits up to 1 s for m to be
  // acknowledged. It never reads (the transfer's reader does, until the peer closes); the caller
  // bounds how long all this may take.
  awaitable<void> abort(const proto::PipeMessage& m);
  // Stops writing, then discards what the peer still sends until it closes or timeout passes, so
  // our last record is not destroyed by a reset.
  awaitable<void> close_gracefully(std::chrono::milliseconds timeout);
  // m as the last record, then close_gracefully: our words that end a transfer (a
  // confirmation, a decline, an abort). A QUIC pipe closed at once would send its
  // CONNECTION_CLOSE behind m, and lose m for good when m's packet is lost; closing gracefully
  // waits (within grace) until m is acknowledged and the peer closes.
  awaitable<proto::Result<void>> send_last(const proto::PipeMessage& m,
                                           std::chrono::milliseconds grace);

 private:
  awaitable<proto::Result<void>> write_record(proto::ByteView plaintext, bool final);

  std::unique_ptr<ByteStream> stream_;
  std::string description_;
  std::string carrier_;
  std::optional<proto::RecordSealer> sealer_;
  std::array<std::uint8_t, proto::kRecordHeaderBytes> sent_header_{};
  std::array<std::uint8_t, proto::kRecordHeaderBytes> received_header_{};
  std::optional<proto::RecordOpener> opener_;
  proto::Bytes out_;
  proto::Bytes in_;
  proto::Bytes plain_;
  bool writing_ = false;
  bool held_ = false;  // abort() took over writing
};

}  // namespace ferry::net
