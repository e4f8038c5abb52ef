// The client side of the rendezvous protocol: allocate or claim a nameplate, wait for the pair,
// exchange opaque messages with the peer.
#pragma once

#include <functional>

#include <memory>

#include "net/websocket_client.hpp"
#include "proto/rendezvous_message.hpp"
#include "session/message_channel.hpp"

namespace ferry::session {

class RendezvousClient : public MessageChannel {
 public:
  static constexpr std::chrono::seconds kReconnectWait{30};

  static net::awaitable<proto::Result<RendezvousClient>> connect(const proto::ServerUrl& url,
                                                                 std::chrono::milliseconds timeout);

  // Sender: returns the nameplate (the requested one, or one the server picked). resume: the
  // sender's token for this code (rv::Allocate), to take the nameplate back on a new connection.
  // receivers, next: a group send (rv::Allocate).
  net::awaitable<proto::Result<std::string>> allocate(const std::string& requested,
                                                      const proto::Bytes& resume = {},
                                                      std::uint32_t receivers = 1,
                                                      bool next_receiver = false);
  // Receiver: claims the nameplate; the server pairs at once or refuses. With wait > 0, a
  // nameplate no sender holds yet is waited for (on_waiting is called once) for at most `wait`.
  // A cluster may also ask a receiver with wait 0 to wait (its sender is reconnecting after its
  // server node died): then for at most kReconnectWait.
  net::awaitable<proto::Result<proto::rv::Paired>> claim(
      const std::string& nameplate, std::chrono::seconds wait = std::chrono::seconds(0),
      std::function<void()> on_waiting = {});
  // Sender: waits until a receiver claims the nameplate.
  net::awaitable<proto::Result<proto::rv::Paired>> wait_paired();

  net::awaitable<proto::Result<void>> send(const proto::Bytes& body) override;
  // The peer's next message; the peer leaving is Errc::peer_gone.
  net::awaitable<proto::Result<proto::Bytes>> receive() override;
  void close();
  // The last claim waits in line for a group send's sender (rv::Waiting::queued), not for a
  // sender to start.
  bool queued() const { return queued_; }
  // The last failure was the connection itself (dropped, reset), not a refusal from the server.
  bool lost() const { return lost_; }
  // This client's address as the server saw it (from the welcome; empty from old servers).
  const std::string& observed() const { return observed_; }
  // The UDP ports of the server's STUN responder (from its welcome; empty without one).
  const std::vector<std::uint16_t>& stun_ports() const { return stun_ports_; }
  // The server's relay over UDP (0: none).
  std::uint16_t relay_udp() const { return relay_udp_; }
  // How the connection reached the server, when that is worth telling the person (a proxy
  // removed the WebSocket upgrade: HTTPS requests carry it); empty otherwise.
  const std::string& route_note() const { return route_note_; }

 private:
  explicit RendezvousClient(std::unique_ptr<net::WebSocketClient> ws) : ws_(std::move(ws)) {}
  net::awaitable<proto::Result<proto::ServerMessage>> next();

  std::unique_ptr<net::WebSocketClient> ws_;
  std::string observed_;
  std::vector<std::uint16_t> stun_ports_;
  std::uint16_t relay_udp_ = 0;
  std::string route_note_;
  bool lost_ = false;
  bool queued_ = false;
};

}  // namespace ferry::session
