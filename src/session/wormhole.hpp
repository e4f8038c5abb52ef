// Speaking magic-wormhole's file-transfer protocol with its programs (`wormhole`,
// wormhole-william, Warp...): receiving and sending text, a file or a folder (as a zip) through
// its mailbox server and transit connections, direct or through a transit relay. Received files
// land through the same FileSink as ferry's own.
#pragma once

#include <optional>
#include <string>

#include "net/asio.hpp"
#include "proto/wormhole_message.hpp"
#include "session/file_source.hpp"
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
// Sends one file, one folder (as a zip) or a text to a wormhole receiver. With no code in
// `wormhole`, the mailbox server allocates a nameplate and the code is made here.
net::awaitable<proto::Result<void>> send_wormhole(WormholeOptions wormhole,
                                                  const FileSource& source, bool force_relay,
                                                  Observer& observer);

}  // namespace ferry::session
