#include "session/cancellation.hpp"

#include "net/record_pipe.hpp"
#include "proto/error.hpp"

namespace ferry::session {

net::awaitable<void> Cancellation::cancel() {
  auto pipe = pipe_.lock();
  if (!pipe) co_return;
  const proto::PipeMessage abort =
      proto::msg::Abort{std::string(proto::errc_name(proto::Errc::cancelled)), "cancelled"};
  co_await pipe->abort(abort);
}

}  // namespace ferry::session
