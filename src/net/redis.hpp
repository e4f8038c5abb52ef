// A Redis client on Asio for `ferry serve --redis`: commands pipelined on one connection, written
// in the order they are sent (so a connection's messages stay in order) and answered in that order,
// or a subscriber connection that receives what is published on its channels. Replies are parsed by
// hiredis's reader; the I/O, TLS (rediss://) and deadlines are here. A broken connection fails
// every command waiting on it, is reported, and is dialled again with backoff; subscriptions are
// renewed on each new connection.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/any_stream.hpp"
#include "net/asio.hpp"
#include "proto/error.hpp"
#include "proto/redis_url.hpp"

namespace ferry::net {

struct RedisReply {
  enum class Type { string, status, error, integer, nil, array };
  Type type = Type::nil;
  std::string str;  // string, status, error
  long long integer = 0;
  std::vector<RedisReply> elements;
};

class RedisClient : public std::enable_shared_from_this<RedisClient> {
 public:
  using Reply = proto::Result<RedisReply>;
  using Callback = std::function<void(Reply)>;
  struct Events {
    std::function<void()> up;                      // connected (and authenticated)
    std::function<void(const std::string&)> down;  // lost, with why
    std::function<void(std::string_view channel, std::string_view payload)> message;
  };
  // A reply slower than this marks the connection broken (a hung server is a dead one).
  static constexpr std::chrono::milliseconds kReplyDeadline{3000};

  RedisClient(asio::any_io_executor ex, proto::RedisUrl url, Events events,
              bool subscriber = false);
  ~RedisClient();

  void start();
  void stop();
  bool connected() const { return connected_; }
  const std::string& last_error() const { return last_error_; }

  // Sends at once (in call order); the callback gets the reply, an error reply as
  // Errc::server_error, or Errc::server_unreachable when there is no connection or it breaks first.
  void send(const std::vector<std::string>& args, Callback cb);
  awaitable<Reply> command(std::vector<std::string> args);
  // Subscriber connections only: channels kept across reconnects.
  void subscribe(const std::string& channel);

 private:
  struct Pending {
    Callback cb;
    std::chrono::steady_clock::time_point sent;
  };
  awaitable<void> run(std::shared_ptr<RedisClient> self);
  awaitable<void> writer(std::shared_ptr<RedisClient> self, unsigned generation);
  awaitable<void> watchdog(std::shared_ptr<RedisClient> self, unsigned generation);
  // Queues the bytes of a command without the connected check (the handshake's own commands).
  void queue(const std::vector<std::string>& args, Callback cb);
  void dispatch(RedisReply reply);
  void broken(const std::string& why);

  asio::any_io_executor ex_;
  proto::RedisUrl url_;
  Events events_;
  bool subscriber_;
  std::optional<AnyStream> stream_;
  std::string out_;
  std::deque<Pending> pending_;
  std::vector<std::string> channels_;
  asio::steady_timer wake_;
  asio::steady_timer backoff_;
  unsigned generation_ = 0;
  bool connected_ = false;
  bool stopped_ = false;
  std::string last_error_ = "not connected yet";
};

}  // namespace ferry::net
