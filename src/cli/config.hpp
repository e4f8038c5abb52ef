// Where the server address comes from: --server, then FERRY_SERVER, then the config file
// ($XDG_CONFIG_HOME/ferry/config or ~/.config/ferry/config, a line "server = URL").
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "proto/server_url.hpp"

namespace ferry::cli {

std::filesystem::path config_file_path();
// Empty when nothing names a server; an error when what names it is garbage.
proto::Result<std::optional<proto::ServerUrl>> resolve_server(const std::string& flag);
std::string no_server_hint();

}  // namespace ferry::cli
