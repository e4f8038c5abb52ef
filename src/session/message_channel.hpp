// What the PAKE's messages travel over: the rendezvous mailbox, or, for a serverless transfer,
// the TCP connection itself (length-prefixed frames).
#pragma once

#include "net/asio.hpp"
#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::session {

class MessageChannel {
 public:
  virtual ~MessageChannel() = default;
  virtual net::awaitable<proto::Result<void>> send(const proto::Bytes& body) = 0;
  // The peer's next message; the peer leaving is Errc::peer_gone.
  virtual net::awaitable<proto::Result<proto::Bytes>> receive() = 0;
};

}  // namespace ferry::session
