#include "cli/wormhole_options.hpp"

#include "cli/config.hpp"

namespace ferry::cli {

void add_wormhole_server_options(CLI::App& cmd, std::string& mailbox, std::string& transit_helper) {
  cmd.add_option("--mailbox", mailbox,
                 "magic-wormhole's mailbox server (default: FERRY_WORMHOLE_MAILBOX, the config's "
                 "\"wormhole-mailbox\", or " +
                     std::string(kDefaultMailbox) + ")");
  cmd.add_option("--transit-helper", transit_helper,
                 "magic-wormhole's transit relay, tcp:HOST:PORT (default: "
                 "FERRY_WORMHOLE_TRANSIT, the config's \"wormhole-transit\", or " +
                     std::string(kDefaultTransitHelper) + ")");
}

proto::Result<session::WormholeOptions> wormhole_options(const std::string& mailbox,
                                                         const std::string& transit_helper) {
  auto url = proto::parse_mailbox_url(
      config_value(mailbox, "FERRY_WORMHOLE_MAILBOX", "wormhole-mailbox", kDefaultMailbox));
  if (!url) return std::unexpected(url.error());
  auto transit = proto::parse_transit_helper(config_value(
      transit_helper, "FERRY_WORMHOLE_TRANSIT", "wormhole-transit", kDefaultTransitHelper));
  if (!transit) return std::unexpected(transit.error());
  session::WormholeOptions out;
  out.mailbox = *url;
  out.transit_helper = *transit;
  return out;
}

}  // namespace ferry::cli
