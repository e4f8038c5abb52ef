#include "cli/send_command.hpp"

#include <unistd.h>

#include "cli/config.hpp"
#include "cli/console.hpp"
#include "cli/exit_codes.hpp"
#include "cli/session_runner.hpp"
#include "cli/wormhole_options.hpp"
#include "proto/names.hpp"
#include "proto/wormhole_message.hpp"
#include "session/direct.hpp"
#include "session/transfer.hpp"
#include "session/wormhole.hpp"

namespace ferry::cli {

CLI::App* add_send_command(CLI::App& app, SendFlags& f) {
  auto* cmd = app.add_subcommand("send", "Send files, folders, text, or stdin (-)");
  cmd->add_option("--server", f.server, "The server's URL (default: FERRY_SERVER, config)");
  add_ca_file_option(cmd);
  cmd->add_option("--code", f.code, "Use this code (NUMBER-WORDS) instead of a random one");
  cmd->add_flag("--json", f.json, "One JSON event per line on stdout");
  cmd->add_option("--text", f.text, "Send this text message instead of files");
  cmd->add_option("--name", f.stdin_name, "File name for data read from stdin")
      ->capture_default_str();
  cmd->add_flag("--force-relay", f.force_relay,
                "Send through the server's relay only (no direct paths)");
  cmd->add_flag("--direct", f.direct,
                "No server: the code carries this computer's addresses (its network, or a "
                "port its router maps by UPnP/NAT-PMP)");
  cmd->add_flag("--qr", f.qr, "Also print the link as a QR code, for a phone's camera");
  cmd->add_option("--receivers", f.receivers,
                  "Let this many people receive with the code or link (a group chat), each on "
                  "its own path, several at once")
      ->check(CLI::Range(1, 1000))
      ->option_text("N");
  cmd->add_flag("--many", f.many,
                "Let any number of people receive, until Ctrl-C (or --expire); a wrong code "
                "still ends it for everyone");
  cmd->add_option("--expire", f.expire,
                  "With --receivers or --many: take no new receivers after this long (90s, 10m, "
                  "2h, 1d)")
      ->option_text("DURATION");
  cmd->add_flag("--lan", f.lan,
                "No server: the receiver on this network finds this computer by the code "
                "(the default when no server is configured)");
  cmd->add_flag("--wormhole", f.wormhole,
                "Speak magic-wormhole: any wormhole program receives the code (one file, one "
                "folder or a text; no hole punching, QUIC or resume)");
  add_wormhole_server_options(*cmd, f.mailbox, f.transit_helper);
  cmd->add_option("paths", f.paths, "Files or folders to send; - reads stdin");
  return cmd;
}

int run_send(const CLI::App& cmd, SendFlags f, const std::string& code_from_env) {
  auto server = resolve_server(f.server);
  if (!server) return usage_error(server.error().detail);
  const auto console = Console::make(Console::Role::sender, f.json);
  if (f.wormhole && (f.direct || f.lan || !f.server.empty())) {
    return usage_error(
        "--wormhole uses wormhole's mailbox server (--mailbox): it cannot go with "
        "--server, --direct or --lan");
  }
  if (f.direct && (!f.code.empty() || f.force_relay || !f.server.empty() || f.lan)) {
    return usage_error(
        "--direct uses no server: it cannot go with --server, --code, --lan or --force-relay");
  }
  if (f.lan && (f.force_relay || !f.server.empty())) {
    return usage_error("--lan uses no server: it cannot go with --server or --force-relay");
  }
  // No server configured: this network only, found by the code (no usage error: it works).
  const bool lan = f.lan || (!f.direct && !*server);
  session::SendOptions options{f.direct || lan ? proto::ServerUrl{} : **server, std::nullopt,
                               f.force_relay, no_direct_tcp(), no_udp()};
  options.no_relay_tcp = no_relay_tcp();
  options.no_relay_udp = no_relay_udp();
  options.tcp_connections = tcp_connections();
  if (f.code.empty() && !f.direct) f.code = code_from_env;
  if (!f.code.empty() && !f.wormhole) {
    auto code = proto::parse_code(f.code);
    if (!code) {
      return usage_error((cmd.count("--code") ? "--code: " : "FERRY_CODE: ") + code.error().detail);
    }
    options.code = *code;
  }
  const bool group = f.many || f.receivers > 1;
  if (group && (f.direct || lan || f.wormhole)) {
    return usage_error(
        "--receivers and --many need a ferry server (--server): the LAN, --direct and "
        "--wormhole modes pair one receiver");
  }
  if (f.many && cmd.count("--receivers") > 0) {
    return usage_error("--many takes any number of receivers: it cannot go with --receivers");
  }
  if (!f.expire.empty()) {
    if (!group) return usage_error("--expire goes with --receivers N or --many");
    auto expire = proto::parse_duration(f.expire);
    if (!expire) return usage_error("--expire: " + expire.error().detail);
    options.expire = *expire;
  }
  options.receivers = f.many ? 0 : f.receivers;
  const bool text = cmd.count("--text") > 0;
  if (text && !f.paths.empty()) return usage_error("send either --text or files, not both");
  if (!text && f.paths.empty()) {
    return usage_error("nothing to send: name files or folders, --text \"...\", or - for stdin");
  }
  auto source = [&]() -> proto::Result<session::FileSource> {
    if (text) return session::FileSource::from_text(f.text);
    if (f.paths.size() == 1 && f.paths[0] == "-")
      return session::FileSource::from_stdin(STDIN_FILENO, f.stdin_name);
    return session::FileSource::from_paths({f.paths.begin(), f.paths.end()});
  }();
  if (!source) {
    console->error(source.error(), source.error().detail);
    return exit_status(source.error().code);
  }
  for (const auto& s : source->skipped()) {
    console->on_event(
        session::event::Note{"skipping \"" + proto::display_name(s) +
                             "\": not a regular file or folder (links are not followed)"});
  }
  console->set_offer(&source->offer());
  console->set_qr(f.qr);
  if (f.qr && (lan || f.direct)) {
    console->on_event(
        session::event::Note{"--qr shows the link, and a transfer without a server has no link"});
  }
  session::Cancellation cancellation;
  options.cancellation = &cancellation;
  if (f.wormhole) {
    auto wormhole = wormhole_options(f.mailbox, f.transit_helper);
    if (!wormhole) return usage_error(wormhole.error().detail);
    if (!f.code.empty() && !proto::wormhole_nameplate(f.code)) {
      return usage_error("--code: \"" + proto::display_name(f.code) +
                         "\" is not a wormhole code (it looks like 7-guitarist-revenge)");
    }
    wormhole->code = f.code;
    return run_session(*console, cancellation, true,
                       session::send_wormhole(*wormhole, *source, f.force_relay, *console));
  }
  if (f.direct) {
    return run_session(*console, cancellation, true,
                       session::send_direct(*source, *console, &cancellation));
  }
  if (lan) {
    return run_session(*console, cancellation, true,
                       session::send_lan(*source, options.code, *console, &cancellation));
  }
  return run_session(*console, cancellation, true, session::send(*source, options, *console));
}

}  // namespace ferry::cli
