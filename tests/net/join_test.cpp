#include "net/join.hpp"

#include <gtest/gtest.h>

namespace ferry::net {
namespace {

using namespace std::chrono_literals;

Task<int> after(std::chrono::milliseconds delay, int value) {
  return [delay, value]() -> awaitable<int> {
    asio::steady_timer t(co_await asio::this_coro::executor, delay);
    error_code ec;
    co_await t.async_wait(redirect(ec));
    co_return value;
  };
}

TEST(Join, AllOfReturnsEveryResultInOrderOnceTheLastFinishes) {
  asio::io_context io;
  std::vector<int> got;
  std::chrono::steady_clock::duration took{};
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        const std::vector<Task<int>> tasks{after(60ms, 1), after(10ms, 2), after(30ms, 3)};
        const auto start = std::chrono::steady_clock::now();
        got = co_await all_of(tasks);
        took = std::chrono::steady_clock::now() - start;
      },
      asio::detached);
  io.run();
  EXPECT_EQ(got, (std::vector<int>{1, 2, 3}));
  EXPECT_GE(took, 60ms);
}

TEST(Join, AllOfStopsWaitingAtTheDeadline) {
  asio::io_context io;
  std::vector<int> got;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        const std::vector<Task<int>> tasks{after(10ms, 1), after(2s, 2)};
        got = co_await all_of(tasks, std::chrono::steady_clock::now() + 100ms);
        io.stop();  // the slow one would run on
      },
      asio::detached);
  io.run_for(5s);
  EXPECT_EQ(got, (std::vector<int>{1, 0}));
}

}  // namespace
}  // namespace ferry::net
