// `ferry receive`: its flags, and a receive by code (through a server, or on this network with
// --lan), by link (its server), or by a --direct code (no server).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace ferry::cli {

struct ReceiveFlags {
  std::string server;
  bool yes = false;
  bool overwrite = false;
  bool rename = false;
  std::string output = ".";
  std::vector<std::string> code;  // "7 tumbler oxcart" typed as three arguments is one code
  int wait_seconds = 300;
  bool json = false;
  bool force_relay = false;
  bool lan = false;
  // magic-wormhole: its mailbox server and transit relay (defaults: the public ones).
  bool wormhole = false;
  std::string mailbox;
  std::string transit_helper;
};

CLI::App* add_receive_command(CLI::App& app, ReceiveFlags& flags);
// code_from_env: FERRY_CODE, used when no code is given.
int run_receive(const ReceiveFlags& flags, const std::string& code_from_env);

}  // namespace ferry::cli
