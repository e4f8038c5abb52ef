// Receiving from a magic-wormhole sender (`wormhole send`, wormhole-william, Warp...): its
// mailbox server, SPAKE2, the file-transfer messages, and its transit connections, direct or
// through a transit relay. The received file lands through the same FileSink as ferry's own.
#pragma once

#include <optional>
#include <string>

#include "net/asio.hpp"
#include "proto/wormhole_message.hpp"
#include "session/observer.hpp"
#include "session/transfer.hpp"

namespace ferry::session {

struct WormholeOptions {
  proto::MailboxUrl mailbox;
  // Our own transit relay, offered to the sender beside the ones it names.
  std::optional<proto::TransitHelper> transit_helper;
  std::string code;  // "7-guitarist-revenge"
};

net::awaitable<proto::Result<void>> receive_wormhole(WormholeOptions wormhole,
                                                     ReceiveOptions options, Observer& observer);

}  // namespace ferry::session
