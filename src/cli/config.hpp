// Where the server address comes from: --server, then FERRY_SERVER, then the config file
// ($XDG_CONFIG_HOME/ferry/config or ~/.config/ferry/config, a line "server = URL").
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <optional>
#include <string>

#include "proto/server_url.hpp"

namespace ferry::cli {

std::filesystem::path config_file_path();
// Empty when nothing names a server; an error when what names it is garbage.
proto::Result<std::optional<proto::ServerUrl>> resolve_server(const std::string& flag);
// The ways to name a server ("--server http://host:4300, the FERRY_SERVER ...").
std::string naming_a_server();
std::string no_server_hint();
// --ca-file FILE: a CA to trust beside the system's (FERRY_CA_FILE, which net/ reads).
void add_ca_file_option(CLI::App* cmd);

// magic-wormhole's public servers, used when nothing else names one.
inline constexpr std::string_view kDefaultMailbox = "ws://relay.magic-wormhole.io:4000/v1";
inline constexpr std::string_view kDefaultTransitHelper = "tcp:transit.magic-wormhole.io:4001";
// The first of: the flag, the environment variable, the config file's "key = value", fallback.
std::string config_value(const std::string& flag, const char* env, std::string_view key,
                         std::string_view fallback);

}  // namespace ferry::cli
