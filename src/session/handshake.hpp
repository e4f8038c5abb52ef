// The PAKE over the rendezvous mailbox: CPace turns the code into session keys, then both sides
// prove they hold the same keys (key confirmation) before anything else is said. A wrong code ends
// both sides here with Errc::wrong_code, having sent nothing but CPace shares.
#pragma once

#include <optional>

#include "proto/code.hpp"
#include "proto/key_schedule.hpp"
#include "proto/mailbox_crypto.hpp"
#include "proto/peer_message.hpp"
#include "proto/server_url.hpp"
#include "session/rendezvous_client.hpp"

namespace ferry::session {

struct SessionSecrets {
  proto::Side side = proto::Side::sender;
  proto::SessionKeys keys{};
  proto::Bytes relay_grant;
  // Where to present the grant: a relay the server's cluster named (rv::Paired::relay), else the
  // rendezvous server itself.
  std::optional<proto::ServerUrl> relay;
  // The relay over UDP on the relay's host (0: none): the rendezvous server's (its welcome), or
  // the one its cluster named with the relay (rv::Paired::relay_udp).
  std::uint16_t relay_udp_port = 0;
  // The rendezvous server's STUN port (its welcome; 0: none), for a WebRTC answer's public
  // address.
  std::uint16_t stun_port = 0;
};

// Two random code words ("tumbler-oxcart", 16 bits) for a code the sender did not choose.
std::string random_words();

// The PAKE over any channel; session_id is CPace's sid.
net::awaitable<proto::Result<SessionSecrets>> pake_as_sender(MessageChannel& channel,
                                                             proto::ByteView session_id,
                                                             const proto::Secret& words,
                                                             const proto::Secret& link);
net::awaitable<proto::Result<SessionSecrets>> pake_as_receiver(MessageChannel& channel,
                                                               proto::ByteView session_id,
                                                               const proto::Secret& secret);

// The sender holds both the typed code and the link secret; the receiver says which it has.
net::awaitable<proto::Result<SessionSecrets>> handshake_as_sender(RendezvousClient& rendezvous,
                                                                  const proto::rv::Paired& paired,
                                                                  const proto::Secret& words,
                                                                  const proto::Secret& link);
net::awaitable<proto::Result<SessionSecrets>> handshake_as_receiver(RendezvousClient& rendezvous,
                                                                    const proto::rv::Paired& paired,
                                                                    const proto::Secret& secret);

// Sealed notes through the mailbox after the handshake.
class Mailbox {
 public:
  Mailbox(std::shared_ptr<RendezvousClient> rendezvous, const SessionSecrets& secrets);
  net::awaitable<proto::Result<void>> send(const proto::MailboxNote& note);
  net::awaitable<proto::Result<proto::MailboxNote>> receive();
  RendezvousClient& rendezvous() { return *rendezvous_; }

 private:
  std::shared_ptr<RendezvousClient> rendezvous_;
  proto::MailboxSealer sealer_;
  proto::MailboxOpener opener_;
  bool sending_ = false;
  std::vector<net::asio::steady_timer*> waiting_;  // sends waiting for their turn
};

}  // namespace ferry::session
