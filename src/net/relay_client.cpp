#include "net/relay_client.hpp"

#include "net/tcp.hpp"
#include "net/websocket_client.hpp"

namespace ferry::net {

using proto::Errc;
using proto::RelayStatus;

std::string_view relay_transport_name(RelayTransport t) {
  return t == RelayTransport::raw ? "TCP" : "WebSocket";
}

awaitable<proto::Result<std::unique_ptr<ByteStream>>> open_relay_transport(
    const proto::ServerUrl& server, RelayTransport transport, std::chrono::milliseconds timeout) {
  const std::string where = server.to_string();
  if (transport == RelayTransport::raw) {
    auto s = co_await connect_server(server, timeout);
    if (!s) co_return std::unexpected(s.error());
    co_return std::make_unique<SocketStream>(std::move(*s), where);
  }
  auto ws = co_await open_websocket(server, server.relay_target(), timeout);
  if (!ws) co_return std::unexpected(ws.error());
  ws->read_message_max(proto::kRelayMaxFrame + 64);
  co_return websocket_byte_stream(std::move(*ws), where);
}

awaitable<proto::Result<void>> relay_handshake(ByteStream& stream, const proto::RelayHello& hello,
                                               const std::string& where, RelayTimeouts timeouts) {
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
    stream.expires_after(timeouts.pair);
  }
  stream.expires_never();
  stream.start_relay_frames();
  co_return proto::Result<void>{};
}

}  // namespace ferry::net
