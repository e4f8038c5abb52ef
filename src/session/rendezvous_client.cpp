#include "session/rendezvous_client.hpp"

namespace ferry::session {

using namespace net;
using proto::Errc;
namespace rv = proto::rv;

namespace {
proto::Error server_error(const rv::ServerError& e) {
  if (e.code == "code_unknown") return {Errc::code_unknown, e.message};
  if (e.code == "code_taken") return {Errc::code_taken, e.message};
  if (e.code == "code_used") return {Errc::code_used, e.message};
  return {Errc::server_error, "the server said: " + e.message};
}
}  // namespace

awaitable<proto::Result<RendezvousClient>> RendezvousClient::connect(
    const proto::ServerUrl& url, std::chrono::milliseconds timeout) {
  net::WebSocketRoute route;
  auto ws = co_await WebSocketClient::connect(url, url.rendezvous_target(), timeout, &route);
  if (!ws) co_return std::unexpected(ws.error());
  RendezvousClient client(std::move(*ws));
  client.route_note_ = route.note;
  auto welcome = co_await client.next();
  if (!welcome) co_return std::unexpected(welcome.error());
  const auto* w = std::get_if<rv::Welcome>(&*welcome);
  if (w == nullptr || w->version != proto::kRendezvousVersion) {
    co_return proto::fail(Errc::server_error,
                          "the server speaks another version of the ferry protocol; update ferry "
                          "or the server");
  }
  client.observed_ = w->observed;
  client.stun_ports_ = w->stun_ports;
  client.relay_udp_ = w->relay_udp;
  co_return client;
}

awaitable<proto::Result<proto::ServerMessage>> RendezvousClient::next() {
  auto text = co_await ws_->receive();
  lost_ = !text;
  if (!text) co_return std::unexpected(text.error());
  auto m = proto::decode_server(*text);
  if (!m) co_return proto::fail(Errc::server_error, "the server sent " + m.error().detail);
  if (const auto* e = std::get_if<rv::ServerError>(&*m))
    co_return std::unexpected(server_error(*e));
  co_return m;
}

awaitable<proto::Result<std::string>> RendezvousClient::allocate(const std::string& requested,
                                                                 const proto::Bytes& resume,
                                                                 std::uint32_t receivers,
                                                                 bool next_receiver) {
  const std::string text =
      proto::encode_client(rv::Allocate{requested, resume, receivers, next_receiver});
  auto sent = co_await ws_->send(text);
  lost_ = !sent;
  if (!sent) co_return std::unexpected(sent.error());
  auto m = co_await next();
  if (!m) co_return std::unexpected(m.error());
  const auto* a = std::get_if<rv::Allocated>(&*m);
  if (a == nullptr) co_return proto::fail(Errc::server_error, "the server answered out of order");
  co_return a->nameplate;
}

awaitable<proto::Result<rv::Paired>> RendezvousClient::claim(const std::string& nameplate,
                                                             std::chrono::seconds wait,
                                                             std::function<void()> on_waiting) {
  const std::string text = proto::encode_client(rv::Claim{nameplate, wait.count() > 0});
  auto sent = co_await ws_->send(text);
  lost_ = !sent;
  if (!sent) co_return std::unexpected(sent.error());
  auto m = co_await next();
  if (!m) co_return std::unexpected(m.error());
  if (auto* p = std::get_if<rv::Paired>(&*m)) co_return std::move(*p);
  const auto* waiting = std::get_if<rv::Waiting>(&*m);
  if (waiting == nullptr) {
    co_return proto::fail(Errc::server_error, "the server answered out of order");
  }
  queued_ = waiting->queued;
  if (wait.count() == 0 || queued_) wait = kReconnectWait;
  if (on_waiting) on_waiting();
  // The wait ends by closing the connection, which ends the read below.
  struct Wait {
    bool expired = false;
    bool over = false;  // the read below ended: the connection may be gone
  };
  auto state = std::make_shared<Wait>();
  asio::steady_timer timer(co_await asio::this_coro::executor, wait);
  timer.async_wait([state, ws = ws_.get()](const error_code& ec) {
    if (ec || state->over) return;
    state->expired = true;
    ws->close();
  });
  auto paired = co_await wait_paired();
  state->over = true;
  timer.cancel();
  if (!paired && state->expired) {
    lost_ = false;  // our own close ended the wait, not the connection
    if (queued_) {
      co_return proto::fail(Errc::no_sender, "the sender did not take this receiver within " +
                                                 std::to_string(wait.count()) + " s");
    }
    co_return proto::fail(Errc::no_sender, "no sender started with this code within " +
                                               std::to_string(wait.count()) + " s");
  }
  co_return paired;
}

awaitable<proto::Result<rv::Paired>> RendezvousClient::wait_paired() {
  auto m = co_await next();
  if (!m) co_return std::unexpected(m.error());
  auto* p = std::get_if<rv::Paired>(&*m);
  if (p == nullptr) co_return proto::fail(Errc::server_error, "the server answered out of order");
  co_return std::move(*p);
}

awaitable<proto::Result<void>> RendezvousClient::send(const proto::Bytes& body) {
  const std::string text = proto::encode_client(rv::Message{body});
  co_return co_await ws_->send(text);
}

awaitable<proto::Result<proto::Bytes>> RendezvousClient::receive() {
  auto m = co_await next();
  if (!m) co_return std::unexpected(m.error());
  if (std::holds_alternative<rv::PeerLeft>(*m)) {
    co_return proto::fail(Errc::peer_gone, "the other side disconnected");
  }
  auto* msg = std::get_if<rv::Message>(&*m);
  if (msg == nullptr) co_return proto::fail(Errc::server_error, "the server answered out of order");
  co_return std::move(msg->body);
}

void RendezvousClient::close() {
  ws_->close();
}

}  // namespace ferry::session
