// A person's Ctrl-C, told to the other side. The CLI owns one and hands it to the session; the
// session says which pipe its transfer runs on (again after a move), and cancel() ends that pipe
// with an abort that the peer reads as "the sender (or receiver) cancelled the transfer".
#pragma once

#include <functional>
#include <memory>
#include <vector>

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
  // A pipe to the peer was open: the receiver may hold part files from here on (in a group send:
  // one of the receivers' pipes).
  bool transfer_started() const;
  // Tells the peer, if a pipe is open, and every child's peer. The caller bounds how long it may
  // take.
  net::awaitable<void> cancel();

  // A group send: one child per receiver, each attached to that receiver's pipe.
  std::shared_ptr<Cancellation> child();
  // A group send stops taking receivers at Ctrl-C. The hook says whether that ends the send
  // cleanly (no transfer under way): then Ctrl-C is the way to finish, not an interruption.
  void on_stop(std::function<bool()> stop) { stop_ = std::move(stop); }
  // Stops (the hook) and says whether that was clean; false without a hook.
  bool stop_cleanly() const { return stop_ && stop_(); }

 private:
  std::weak_ptr<net::RecordPipe> pipe_;
  bool attached_ = false;
  std::vector<std::shared_ptr<Cancellation>> children_;
  std::function<bool()> stop_;
};

// Attaches when there is somewhere to attach to (a session run without a Cancellation).
inline void attach(Cancellation* c, const std::shared_ptr<net::RecordPipe>& pipe) {
  if (c != nullptr) c->attach(pipe);
}

}  // namespace ferry::session
