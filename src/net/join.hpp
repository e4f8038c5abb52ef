// Running several awaitable tasks at once and waiting for all of them, or for a deadline: the one
// join every "ask both at once" in net/ and session/ uses, instead of counting spawned coroutines
// by hand. Boost 1.74's Asio has no parallel_group.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "net/asio.hpp"

namespace ferry::net {

template <typename T>
using Task = std::function<awaitable<T>()>;

// Starts every task at once and returns their results in order when all have finished, or at
// deadline (a task still running then leaves a value-initialised T and runs on, detached).
template <typename T>
awaitable<std::vector<T>> all_of(
    const std::vector<Task<T>>& tasks,
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max()) {
  struct State {
    std::vector<T> results;
    std::size_t left;
    asio::steady_timer done;
  };
  auto ex = co_await asio::this_coro::executor;
  auto state = std::make_shared<State>(
      State{std::vector<T>(tasks.size()), tasks.size(), asio::steady_timer(ex, deadline)});
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    asio::co_spawn(
        ex,
        [state, i, task = tasks[i]]() -> awaitable<void> {
          T result = co_await task();
          state->results[i] = std::move(result);
          if (--state->left == 0) state->done.cancel();
        },
        asio::detached);
  }
  if (state->left > 0) {
    error_code ec;
    co_await state->done.async_wait(redirect(ec));
  }
  co_return state->results;  // a copy: tasks past the deadline may still write theirs
}

}  // namespace ferry::net
