#include "session/cancellation.hpp"

#include "net/join.hpp"
#include "net/record_pipe.hpp"
#include "proto/error.hpp"

namespace ferry::session {

bool Cancellation::transfer_started() const {
  if (attached_) return true;
  for (const auto& c : children_) {
    if (c->transfer_started()) return true;
  }
  return false;
}

std::shared_ptr<Cancellation> Cancellation::child() {
  children_.push_back(std::make_shared<Cancellation>());
  return children_.back();
}

net::awaitable<void> Cancellation::cancel() {
  if (stop_) stop_();
  // The children at once (a QUIC pipe waits a moment for its abort to be acknowledged).
  std::vector<net::Task<bool>> tasks;
  tasks.reserve(children_.size());
  for (const auto& c : children_) {
    tasks.emplace_back([c]() -> net::awaitable<bool> {
      co_await c->cancel();
      co_return true;
    });
  }
  if (!tasks.empty()) co_await net::all_of(tasks);
  auto pipe = pipe_.lock();
  if (!pipe) co_return;
  const proto::PipeMessage abort =
      proto::msg::Abort{std::string(proto::errc_name(proto::Errc::cancelled)), "cancelled"};
  co_await pipe->abort(abort);
}

}  // namespace ferry::session
