// A person's Ctrl-C, told to the other side. The CLI owns one and hands it to the session; the
// session says which pipe its transfer runs on (again after a move), and cancel() ends that pipe
// with an abort that the peer reads as "the sender (or receiver) cancelled the transfer".
#pragma once

#include <memory>

#include "net/asio.hpp"

namespace ferry::net {
class RecordPipe;
}

namespace ferry::session {

class Cancellation {
 public:
  void attach(const std::shared_ptr<net::RecordPipe>& pipe) {
    pipe_ = pipe;
    attached_ = true;
  }
  // A pipe to the peer was open: the receiver may hold part files from here on.
  bool transfer_started() const { return attached_; }
  // Tells the peer, if a pipe is open. The caller bounds how long it may take.
  net::awaitable<void> cancel();

 private:
  std::weak_ptr<net::RecordPipe> pipe_;
  bool attached_ = false;
};

// Attaches when there is somewhere to attach to (a session run without a Cancellation).
inline void attach(Cancellation* c, const std::shared_ptr<net::RecordPipe>& pipe) {
  if (c != nullptr) c->attach(pipe);
}

}  // namespace ferry::session
