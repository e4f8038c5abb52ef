#include "net/relay_client.hpp"

#include "net/tcp.hpp"

#include <functional>
#include <optional>
#include "net/websocket_client.hpp"

namespace ferry::net {

using proto::Errc;
using proto::RelayStatus;

std::string_view relay_transport_name(RelayTransport t) {
  return t == RelayTransport::raw ? "TCP" : "WebSocket";
}

awaitable<proto::Result<std::unique_ptr<ByteStream>>> open_relay_transport(
    const proto::ServerUrl& server, RelayTransport transport, std::chrono::milliseconds timeout,
    std::string* carried_by) {
  const std::string where = server.to_string();
  if (carried_by != nullptr) *carried_by = relay_transport_name(transport);
  if (transport == RelayTransport::raw) {
    auto s = co_await connect_server(server, timeout);
    if (!s) co_return std::unexpected(s.error());
    co_return std::make_unique<SocketStream>(std::move(*s), where);
  }
  WebSocketRoute route;
  auto ws = co_await open_websocket(server, server.relay_target(), timeout, &route);
  if (!ws) co_return std::unexpected(ws.error());
  if (carried_by != nullptr && route.tunneled) *carried_by = "HTTPS requests";
  ws->read_message_max(proto::kRelayMaxFrame + 64);
  co_return websocket_byte_stream(std::move(*ws), where);
}

namespace {
// Where relay_handshake reports that the relay answered ("waiting"): the transport works.
awaitable<proto::Result<void>> handshake(ByteStream& stream, const proto::RelayHello& hello,
                                         const std::string& where, RelayTimeouts timeouts,
                                         const std::function<void()>& answered);
}  // namespace

awaitable<proto::Result<void>> relay_handshake(ByteStream& stream, const proto::RelayHello& hello,
                                               const std::string& where, RelayTimeouts timeouts) {
  co_return co_await handshake(stream, hello, where, timeouts, {});
}

namespace {
awaitable<proto::Result<void>> handshake(ByteStream& stream, const proto::RelayHello& hello,
                                         const std::string& where, RelayTimeouts timeouts,
                                         const std::function<void()>& answered) {
  const auto bytes = proto::encode(hello);
  error_code ec;
  stream.expires_after(timeouts.answer);
  co_await stream.write(asio::buffer(bytes), ec);
  bool waiting = false;
  for (;;) {
    std::uint8_t status = 0xff;
    if (!ec) co_await read_exact(stream, asio::buffer(&status, 1), ec);
    if (ec) {
      stream.expires_never();
      if (auto said = stream.end_reason()) co_return std::unexpected(*said);
      if (!waiting) {
        co_return proto::fail(Errc::server_unreachable,
                              "relay at " + where + ": no answer (" + describe(ec) + ")");
      }
      co_return proto::fail(Errc::no_path,
                            "relay at " + where + ": the peer never came (" + describe(ec) + ")");
    }
    if (status == static_cast<std::uint8_t>(RelayStatus::paired)) break;
    if (status > static_cast<std::uint8_t>(RelayStatus::shutdown)) {
      // Not a status of ours: something else answered (squid intercepting TLS answers raw
      // bytes with an HTTP error page). The transport is what failed, not the relay.
      stream.expires_never();
      co_return proto::fail(Errc::server_unreachable,
                            "relay at " + where +
                                ": something else answered (a proxy on the way that does not "
                                "pass these bytes through?)");
    }
    if (status != static_cast<std::uint8_t>(RelayStatus::waiting) || waiting) {
      // A refusal is followed by the relay's own sentence (an end frame, or a close frame).
      stream.start_relay_frames();
      stream.expires_after(std::chrono::seconds(2));
      std::uint8_t more = 0;
      co_await stream.read_some(asio::buffer(&more, 1), ec);
      stream.expires_never();
      if (auto said = stream.end_reason()) co_return std::unexpected(*said);
      co_return std::unexpected(proto::relay_status_error(status, where));
    }
    waiting = true;
    if (answered) answered();
    stream.expires_after(timeouts.pair);
  }
  stream.expires_never();
  stream.start_relay_frames();
  co_return proto::Result<void>{};
}

// The transports' race (connect_relay_raced), shared by its attempts.
struct TransportRace {
  explicit TransportRace(const asio::any_io_executor& ex) : wake(ex) {}
  asio::steady_timer wake;
  std::optional<RelayConnection> winner;
  std::optional<proto::Error> refusal;  // the relay's own answer: final
  std::vector<std::string> notes;
  std::vector<ByteStream*> open;  // the attempts' streams, to close the losers
  int running = 0;
  bool raw_answered = false;
  std::optional<std::chrono::steady_clock::duration> raw_connect;  // its connection's set-up
  bool over = false;
};

awaitable<void> race_transport(std::shared_ptr<TransportRace> race, proto::ServerUrl relay,
                               proto::RelayHello hello, RelayTransport transport,
                               std::chrono::milliseconds connect_timeout) {
  const std::string where = relay.to_string();
  std::string carried_by;
  const auto started = std::chrono::steady_clock::now();
  auto stream = co_await open_relay_transport(relay, transport, connect_timeout, &carried_by);
  std::string what = "relay at ";
  what += where;
  what += " over ";
  what += carried_by;
  const auto finish = [&] {
    --race->running;
    race->wake.cancel();
  };
  if (!stream) {
    race->notes.push_back(what + ": " + stream.error().detail);
    co_return finish();
  }
  if (race->over) {
    (*stream)->close();
    co_return finish();
  }
  if (transport == RelayTransport::raw) {
    race->raw_connect = std::chrono::steady_clock::now() - started;
    race->wake.cancel();
  }
  race->open.push_back(stream->get());
  const auto answered = [&race = *race, transport] {
    if (transport == RelayTransport::raw) race.raw_answered = true;
    race.wake.cancel();
  };
  auto paired = co_await handshake(**stream, hello, where, RelayTimeouts{}, answered);
  std::erase(race->open, stream->get());
  if (paired && !race->over) {
    race->over = true;
    race->winner = RelayConnection{std::move(*stream), carried_by};
  } else if (paired) {
    (*stream)->close();
  } else if (!race->over) {
    if (paired.error().code != Errc::server_unreachable && !race->refusal) {
      race->refusal = paired.error();
    }
    race->notes.push_back(what + ": " + paired.error().detail);
  }
  finish();
}
}  // namespace

awaitable<proto::Result<RelayConnection>> connect_relay_raced(
    const proto::ServerUrl& relay, const proto::RelayHello& hello,
    std::chrono::milliseconds connect_timeout, std::vector<std::string>& notes,
    std::function<void()>& cancel) {
  using namespace std::chrono_literals;
  // Before raw's connection is even made, the WebSocket waits at most this long.
  constexpr auto kUnconnected = 1s;
  constexpr auto kLeastHeadStart = 300ms;
  const auto ex = co_await asio::this_coro::executor;
  auto race = std::make_shared<TransportRace>(ex);
  cancel = [weak = std::weak_ptr<TransportRace>(race)] {
    if (auto r = weak.lock()) {
      r->over = true;
      for (auto* s : r->open) s->close();
      r->wake.cancel();
    }
  };
  const auto start = std::chrono::steady_clock::now();
  race->running = 1;
  asio::co_spawn(ex, race_transport(race, relay, hello, RelayTransport::raw, connect_timeout),
                 asio::detached);
  bool websocket = false;
  for (;;) {
    if (race->over || race->winner || race->refusal || (race->running == 0 && websocket)) break;
    // Raw's head start: a few of its connection's round trips (its TCP and TLS set-up took
    // two or three) after it connected, within kUnconnected while it has not.
    auto due = start + kUnconnected;
    if (race->raw_connect)
      due = start + *race->raw_connect +
            std::max<std::chrono::steady_clock::duration>(kLeastHeadStart, 2 * *race->raw_connect);
    const bool now_due = race->running == 0 || std::chrono::steady_clock::now() >= due;
    if (!websocket && !race->raw_answered && now_due) {
      websocket = true;
      ++race->running;
      asio::co_spawn(ex,
                     race_transport(race, relay, hello, RelayTransport::websocket, connect_timeout),
                     asio::detached);
      continue;
    }
    race->wake.expires_at(websocket || race->raw_answered ? asio::steady_timer::time_point::max()
                                                          : due);
    error_code ec;
    co_await race->wake.async_wait(redirect(ec));
  }
  race->over = true;
  for (auto* loser : race->open) loser->close();
  notes = race->notes;
  if (race->winner) co_return std::move(*race->winner);
  if (race->refusal) co_return std::unexpected(*race->refusal);
  co_return proto::fail(Errc::server_unreachable,
                        race->notes.empty() ? "relay at " + relay.to_string() + ": no transport"
                                            : race->notes.back());
}

}  // namespace ferry::net
