// The flags and defaults `ferry send --wormhole` and `ferry receive` share for magic-wormhole's
// servers: --mailbox and --transit-helper, then the environment, the config file, and the
// public servers every wormhole program uses by default.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "proto/error.hpp"
#include "session/wormhole.hpp"

namespace ferry::cli {

void add_wormhole_server_options(CLI::App& cmd, std::string& mailbox, std::string& transit_helper);
// The servers the flags, FERRY_WORMHOLE_MAILBOX / FERRY_WORMHOLE_TRANSIT, the config file's
// "wormhole-mailbox = ..." / "wormhole-transit = ..." or the defaults name (the code is left
// empty).
proto::Result<session::WormholeOptions> wormhole_options(const std::string& mailbox,
                                                         const std::string& transit_helper);

}  // namespace ferry::cli
