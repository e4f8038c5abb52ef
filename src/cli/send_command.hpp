// `ferry send`: its flags, and a send through a server, with --direct (no server: the code
// carries this computer's addresses) or --lan (no server: found on this network by the code).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ferry::cli {

struct SendFlags {
  std::string server;
  std::string code;
  bool json = false;
  std::string text;
  std::string stdin_name = "stdin";
  std::vector<std::string> paths;
  bool force_relay = false;
  bool direct = false;
  bool qr = false;
  bool lan = false;
  // magic-wormhole: its mailbox server and transit relay (defaults: the public ones).
  bool wormhole = false;
  std::string mailbox;
  std::string transit_helper;
  // A group send: --receivers N, or --many (any number), until --expire.
  std::uint32_t receivers = 1;
  bool many = false;
  std::string expire;
};

CLI::App* add_send_command(CLI::App& app, SendFlags& flags);
// code_from_env: FERRY_CODE, used when --code is not given.
int run_send(const CLI::App& cmd, SendFlags flags, const std::string& code_from_env);

}  // namespace ferry::cli
