#include "net/redis.hpp"

#include <hiredis/hiredis.h>

#include <boost/asio/write.hpp>

#include "net/tcp.hpp"

namespace ferry::net {

namespace {

constexpr std::chrono::milliseconds kConnectTimeout{3000};

RedisReply convert(const redisReply* r) {
  RedisReply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out.type = r->type == REDIS_REPLY_STRING   ? RedisReply::Type::string
                 : r->type == REDIS_REPLY_STATUS ? RedisReply::Type::status
                                                 : RedisReply::Type::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::array;
      out.elements.reserve(r->elements);
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      break;
  }
  return out;
}

struct ReaderDeleter {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};

void append_command(std::string& out, const std::vector<std::string>& args) {
  out += '*' + std::to_string(args.size()) + "\r\n";
  for (const auto& a : args) {
    out += '$' + std::to_string(a.size()) + "\r\n";
    out += a;
    out += "\r\n";
  }
}

bool is_push(const RedisReply& r) {
  if (r.type != RedisReply::Type::array || r.elements.empty()) return false;
  const auto& kind = r.elements[0].str;
  return kind == "message" || kind == "subscribe" || kind == "unsubscribe";
}

}  // namespace

RedisClient::RedisClient(asio::any_io_executor ex, proto::RedisUrl url, Events events,
                         bool subscriber)
    : ex_(std::move(ex)),
      url_(std::move(url)),
      events_(std::move(events)),
      subscriber_(subscriber),
      wake_(ex_),
      backoff_(ex_) {}

RedisClient::~RedisClient() = default;

void RedisClient::start() {
  asio::co_spawn(ex_, run(shared_from_this()), asio::detached);
}

void RedisClient::stop() {
  stopped_ = true;
  broken("stopped");
  backoff_.cancel();
}

void RedisClient::queue(const std::vector<std::string>& args, Callback cb) {
  append_command(out_, args);
  pending_.push_back({std::move(cb), std::chrono::steady_clock::now()});
  wake_.cancel();
}

void RedisClient::send(const std::vector<std::string>& args, Callback cb) {
  if (!connected_) {
    return cb(proto::fail(proto::Errc::server_unreachable, "Redis: " + last_error_));
  }
  queue(args, std::move(cb));
}

awaitable<RedisClient::Reply> RedisClient::command(std::vector<std::string> args) {
  return asio::async_initiate<decltype(use_awaitable), void(Reply)>(
      [this, args = std::move(args)](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        send(args, [h](Reply r) mutable { std::move (*h)(std::move(r)); });
      },
      use_awaitable);
}

void RedisClient::subscribe(const std::string& channel) {
  channels_.push_back(channel);
  if (connected_) {
    append_command(out_, {"SUBSCRIBE", channel});
    wake_.cancel();
  }
}

void RedisClient::dispatch(RedisReply reply) {
  if (subscriber_ && is_push(reply)) {
    if (reply.elements[0].str == "message" && reply.elements.size() == 3 && events_.message) {
      events_.message(reply.elements[1].str, reply.elements[2].str);
    }
    return;
  }
  if (pending_.empty()) return broken("a reply nobody asked for");
  auto cb = std::move(pending_.front().cb);
  pending_.pop_front();
  if (reply.type == RedisReply::Type::error) {
    return cb(proto::fail(proto::Errc::server_error, "Redis: " + reply.str));
  }
  cb(std::move(reply));
}

void RedisClient::broken(const std::string& why) {
  const bool was = connected_;
  connected_ = false;
  ++generation_;
  if (stream_) {
    stream_->close();
    stream_.reset();
  }
  out_.clear();
  wake_.cancel();
  if (!why.empty() && why != "stopped") last_error_ = why;
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& p : pending) {
    p.cb(proto::fail(proto::Errc::server_unreachable, "Redis: " + last_error_));
  }
  if (was && events_.down) events_.down(last_error_);
}

awaitable<void> RedisClient::run(std::shared_ptr<RedisClient> self) {
  auto delay = std::chrono::milliseconds(100);
  while (!stopped_) {
    auto tcp = co_await connect_tcp_direct(url_.host, url_.port, kConnectTimeout);
    std::optional<AnyStream> stream;
    if (!tcp) {
      last_error_ = url_.to_string() + " cannot be reached: " + tcp.error().detail;
    } else if (url_.tls) {
      auto tls = co_await start_tls_client(std::move(*tcp), url_.host, kConnectTimeout);
      if (tls) {
        stream.emplace(std::move(*tls));
      } else {
        last_error_ = url_.to_string() + ": TLS failed: " + tls.error().detail;
      }
    } else {
      stream.emplace(std::move(*tcp));
    }
    if (stream && !stopped_) {
      stream_.emplace(std::move(*stream));
      const unsigned generation = ++generation_;
      const auto handshake_failed = [this, generation](const Reply& r) {
        if (!r && generation == generation_) broken(url_.to_string() + ": " + r.error().detail);
      };
      if (!url_.password.empty()) {
        std::vector<std::string> auth{"AUTH"};
        if (!url_.username.empty()) auth.push_back(url_.username);
        auth.push_back(url_.password);
        queue(auth, handshake_failed);
      }
      if (url_.db != 0) queue({"SELECT", std::to_string(url_.db)}, handshake_failed);
      queue({"PING"}, [this, generation, handshake_failed](Reply r) {
        if (!r || generation != generation_) return handshake_failed(r);
        connected_ = true;
        for (const auto& c : channels_) append_command(out_, {"SUBSCRIBE", c});
        wake_.cancel();
        if (events_.up) events_.up();
      });
      asio::co_spawn(ex_, writer(self, generation), asio::detached);
      asio::co_spawn(ex_, watchdog(self, generation), asio::detached);
      delay = std::chrono::milliseconds(100);
      std::unique_ptr<redisReader, ReaderDeleter> reader(redisReaderCreate());
      std::array<char, 16384> buf{};
      std::string why;
      while (generation == generation_) {
        error_code ec;
        const std::size_t n = co_await stream_->async_read_some(asio::buffer(buf), redirect(ec));
        if (generation != generation_) break;
        if (ec) {
          why = url_.to_string() + " closed the connection (" + ec.message() + ")";
          break;
        }
        redisReaderFeed(reader.get(), buf.data(), n);
        for (;;) {
          void* raw = nullptr;
          if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) {
            why = url_.to_string() + " sent a malformed reply";
            break;
          }
          if (raw == nullptr) break;
          RedisReply reply = convert(static_cast<redisReply*>(raw));
          freeReplyObject(raw);
          dispatch(std::move(reply));
          if (generation != generation_) break;
        }
        if (!why.empty()) break;
      }
      if (generation == generation_) broken(why);
    }
    if (stopped_) break;
    backoff_.expires_after(delay);
    error_code ec;
    co_await backoff_.async_wait(redirect(ec));
    delay = std::min(delay * 2, std::chrono::milliseconds(2000));
  }
}

awaitable<void> RedisClient::writer(std::shared_ptr<RedisClient> /*self*/, unsigned generation) {
  while (generation == generation_) {
    if (!out_.empty()) {
      std::string chunk = std::move(out_);
      out_.clear();
      error_code ec;
      co_await asio::async_write(*stream_, asio::buffer(chunk), redirect(ec));
      if (generation != generation_) co_return;
      if (ec) co_return broken(url_.to_string() + ": write failed (" + ec.message() + ")");
      continue;
    }
    wake_.expires_at(asio::steady_timer::time_point::max());
    error_code ec;
    co_await wake_.async_wait(redirect(ec));
  }
}

awaitable<void> RedisClient::watchdog(std::shared_ptr<RedisClient> /*self*/, unsigned generation) {
  asio::steady_timer tick(ex_);
  while (generation == generation_) {
    tick.expires_after(std::chrono::milliseconds(250));
    error_code ec;
    co_await tick.async_wait(redirect(ec));
    if (generation != generation_) co_return;
    if (!pending_.empty() &&
        std::chrono::steady_clock::now() - pending_.front().sent > kReplyDeadline) {
      co_return broken(url_.to_string() + " did not answer within " +
                       std::to_string(kReplyDeadline.count() / 1000) + " s");
    }
  }
}

}  // namespace ferry::net
