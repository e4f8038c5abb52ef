#include "cli/receive_command.hpp"

#include <filesystem>
#include <iostream>

#include "cli/config.hpp"
#include "cli/console.hpp"
#include "cli/exit_codes.hpp"
#include "cli/session_runner.hpp"
#include "cli/wormhole_options.hpp"
#include "proto/direct_code.hpp"
#include "proto/wormhole_message.hpp"
#include "session/direct.hpp"
#include "session/transfer.hpp"
#include "session/wormhole.hpp"

namespace ferry::cli {

CLI::App* add_receive_command(CLI::App& app, ReceiveFlags& f) {
  auto* cmd = app.add_subcommand("receive", "Receive with a code or a link");
  cmd->add_option("--server", f.server,
                  "The server's URL (default: from the link, FERRY_SERVER, config)");
  add_ca_file_option(cmd);
  cmd->add_flag("--yes,-y", f.yes, "Accept the offer without asking");
  cmd->add_option(
         "--output,-o", f.output,
         "Folder to save into (created when missing); - writes one file or a text to stdout")
      ->capture_default_str();
  cmd->add_flag("--overwrite", f.overwrite, "Replace existing files with the same names");
  cmd->add_flag("--rename", f.rename,
                "Keep existing files; save new ones with the same names as \"name (1).ext\"");
  cmd->add_option("--wait", f.wait_seconds,
                  "When no sender has started with this code yet, wait this many seconds for "
                  "one (0: fail at once)")
      ->capture_default_str()
      ->check(CLI::Range(0, 86400));
  cmd->add_flag("--json", f.json, "One JSON event per line on stdout");
  cmd->add_flag("--force-relay", f.force_relay, "Receive through the server's relay only");
  cmd->add_flag("--lan", f.lan,
                "No server: find the sender on this network by the code (the default when no "
                "server is configured)");
  cmd->add_flag("--wormhole", f.wormhole,
                "The code is a magic-wormhole code (recognised without this flag when its words "
                "are wormhole's)");
  add_wormhole_server_options(*cmd, f.mailbox, f.transit_helper);
  cmd->add_option("code", f.code,
                  "The code (7-tumbler-oxcart, or 7 tumbler oxcart) or link; asked for when "
                  "missing");
  return cmd;
}

namespace {
// Where received files go, as the person will read it ("-" for stdout).
std::string output_label(const std::string& output) {
  if (output == "-") return output;
  return std::filesystem::absolute(output).lexically_normal().string();
}
}  // namespace

int run_receive(const ReceiveFlags& f, const std::string& code_from_env) {
  auto server = resolve_server(f.server);
  if (!server) return usage_error(server.error().detail);
  const auto console = Console::make(Console::Role::receiver, f.json);
  std::string code_arg;
  for (const auto& part : f.code) code_arg += (code_arg.empty() ? "" : " ") + part;
  if (code_arg.empty()) code_arg = code_from_env;
  if (code_arg.empty()) {
    std::cerr << "Enter the code: " << std::flush;
    if (!std::getline(std::cin, code_arg) || code_arg.empty()) return usage_error("no code given");
  }
  if (f.overwrite && f.rename) return usage_error("--overwrite and --rename cannot go together");
  session::Cancellation cancellation;
  session::ReceiveOptions options;
  options.cancellation = &cancellation;
  options.to_stdout = f.output == "-";
  if (options.to_stdout && f.json) {
    return usage_error("-o - writes the file to stdout, where --json writes its events");
  }
  options.output = f.output;
  options.overwrite = f.overwrite;
  options.rename = f.rename;
  options.yes = f.yes;
  options.wait = std::chrono::seconds(f.wait_seconds);
  options.force_relay = f.force_relay;
  options.no_tcp = no_direct_tcp();
  options.no_udp = no_udp();
  options.no_relay_tcp = no_relay_tcp();
  options.no_relay_udp = no_relay_udp();
  options.tcp_connections = tcp_connections();
  console->set_output_folder(output_label(f.output));
  if (auto typo = proto::wormhole_code_typo(code_arg); typo && !f.wormhole) {
    return usage_error(typo->detail);
  }
  if (f.wormhole || proto::looks_like_wormhole_code(code_arg)) {
    auto wormhole = wormhole_options(f.mailbox, f.transit_helper);
    if (!wormhole) return usage_error(wormhole.error().detail);
    wormhole->code = code_arg;
    return run_session(*console, cancellation, false,
                       session::receive_wormhole(*wormhole, options, *console));
  }
  if (proto::looks_like_direct_code(code_arg)) {
    auto direct_code = proto::parse_direct_code(code_arg);
    if (!direct_code) return usage_error(direct_code.error().detail);
    return run_session(*console, cancellation, false,
                       session::receive_direct(*direct_code, options, *console));
  }
  bool lan = f.lan;
  if (proto::looks_like_link(code_arg)) {
    auto link = proto::parse_link(code_arg);
    if (!link) return usage_error(link.error().detail);
    options.secret = link->secret;
    // A link exists only once its sender has the number: nothing to wait for.
    options.wait = std::chrono::seconds(0);
    if (*server && !f.server.empty()) {
      options.server = **server;
    } else {
      auto from_link = proto::parse_server_url(link->server_url);
      if (!from_link) return usage_error(from_link.error().detail);
      options.server = *from_link;
    }
  } else {
    auto code = proto::parse_code(code_arg);
    if (!code) return usage_error(code.error().detail);
    options.secret = *code;
    if (lan && (f.force_relay || !f.server.empty())) {
      return usage_error("--lan uses no server: it cannot go with --server or --force-relay");
    }
    // No server configured: the sender is looked for on this network.
    lan = lan || !*server;
    if (!lan) options.server = **server;
  }
  if (lan) {
    return run_session(*console, cancellation, false,
                       session::receive_lan(options.secret, options, *console));
  }
  return run_session(*console, cancellation, false, session::receive(options, *console));
}

}  // namespace ferry::cli
