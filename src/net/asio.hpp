// The one place that pulls in Boost.Asio/Beast for ferry, with the g++ 12 workaround docs/design.md
// notes (include <utility> before awaitable.hpp) and the short names every net/ and session/ file
// uses. g++ 12 trap: a class temporary made by ?: inside a co_await expression is destroyed twice
// (double free). Name such arguments in a local before the co_await.
#pragma once

#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

namespace ferry::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
template <typename T = void>
using awaitable = asio::awaitable<T>;
using asio::use_awaitable;

inline auto redirect(error_code& ec) {
  return asio::redirect_error(use_awaitable, ec);
}

// Lets the event loop run whatever is ready (socket reads, timers) before going on: long CPU work
// in slices, so a connection's acknowledgements and pacing are not held back.
inline awaitable<void> yield() {
  co_await asio::post(co_await asio::this_coro::executor, use_awaitable);
}

}  // namespace ferry::net
