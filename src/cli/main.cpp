// ferry's command line: send, receive, serve. Parses flags, resolves the server, runs one session
// or the server on an io_context, and turns the outcome into a sentence and an exit status.
#include <sodium.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/config.hpp"
#include "cli/console.hpp"
#include "cli/exit_codes.hpp"
#include "cli/serve.hpp"
#include "cli/version.hpp"
#include "net/asio.hpp"
#include "net/port_mapping.hpp"
#include "proto/names.hpp"
#include "session/direct.hpp"
#include "session/doctor.hpp"
#include "session/transfer.hpp"

namespace {

using namespace ferry;
namespace asio = boost::asio;
using cli::usage_error;
using proto::Errc;

// What Ctrl-C leaves behind, said to the person who pressed it.
std::string interrupted_sentence(const session::Cancellation& cancellation, bool sender) {
  if (!cancellation.transfer_started()) {
    return sender ? "cancelled; nothing was sent" : "cancelled; nothing was received";
  }
  return sender ? "cancelled; the other side was told. What it already received is kept, and "
                  "sending the same files again resumes from there"
                : "cancelled; the sender was told. What already arrived is kept as *.ferry-part; "
                  "receive the same files again into this folder to resume";
}

// Runs one session coroutine to completion, or until Ctrl-C: then the other side is told (at most
// a second and a half), and a second Ctrl-C stops at once.
int run_session(cli::Console& console, session::Cancellation& cancellation, bool sender,
                net::awaitable<proto::Result<void>> task) {
  asio::io_context io;
  std::optional<proto::Result<void>> result;
  // After Ctrl-C the process ends once the peer was told and the session has wound down (the
  // peer closing after reading the abort ends it), or after the grace period.
  bool cancelling = false;
  bool cancel_done = false;
  bool session_done = false;
  asio::co_spawn(io, std::move(task), [&](const std::exception_ptr& ep, proto::Result<void> r) {
    if (ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        r = proto::fail(Errc::internal, std::string("internal error: ") + e.what());
      }
    }
    if (!result) result = std::move(r);  // after Ctrl-C, "cancelled" is the outcome
    session_done = true;
    if (!cancelling || cancel_done) io.stop();
  });
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer grace(io);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    cancelling = true;
    result = proto::fail(Errc::interrupted, interrupted_sentence(cancellation, sender));
    signals.async_wait([&](const boost::system::error_code& again, int) {
      if (!again) io.stop();
    });
    grace.expires_after(std::chrono::milliseconds(1500));
    grace.async_wait([&](const boost::system::error_code& e) {
      if (!e) io.stop();
    });
    asio::co_spawn(io, cancellation.cancel(), [&](const std::exception_ptr&) {
      cancel_done = true;
      if (session_done) io.stop();
    });
  });
  io.run();
  net::join_port_mapping_workers();
  if (result && *result) return 0;
  const proto::Error err = result ? result->error() : proto::Error{Errc::internal, "stopped"};
  console.error(err, cli::explain(err));
  return cli::exit_status(err.code);
}

// FERRY_NO_TCP=1 leaves direct TCP out, FERRY_NO_UDP=1 UDP hole punching: to see what the other
// paths do on their own.
bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::string_view(v) == "1";
}
bool no_direct_tcp() {
  return env_flag("FERRY_NO_TCP");
}
bool no_udp() {
  return env_flag("FERRY_NO_UDP");
}

int doctor(const proto::ServerUrl& server, const std::string& stun_flag, bool json) {
  std::optional<proto::HostPort> stun;
  if (!stun_flag.empty()) {
    auto hp = proto::parse_host_port(stun_flag);
    if (!hp || hp->host.empty()) {
      return usage_error("--stun \"" + stun_flag + "\" is not HOST or HOST:PORT" +
                         (hp ? "" : " (" + hp.error().detail + ")"));
    }
    stun = *hp;
  }
  asio::io_context io;
  session::DoctorReport report;
  asio::co_spawn(io, session::run_doctor(server, stun),
                 [&](const std::exception_ptr& ep, session::DoctorReport r) {
                   if (ep) {
                     r.failure = Errc::internal;
                     r.verdict = "internal error while checking";
                   }
                   report = std::move(r);
                 });
  io.run();
  net::join_port_mapping_workers();
  if (json) {
    nlohmann::json checks = nlohmann::json::array();
    for (const auto& c : report.checks) {
      checks.push_back(
          {{"name", c.name}, {"status", c.status}, {"detail", c.detail}, {"ms", c.milliseconds}});
    }
    nlohmann::json out{{"event", "doctor"},
                       {"server", server.to_string()},
                       {"checks", checks},
                       {"usable", report.usable},
                       {"verdict", report.verdict}};
    if (report.nat) {
      const auto& n = *report.nat;
      out["nat"] = {{"udp_blocked", n.udp_blocked},
                    {"behind_nat", n.behind_nat},
                    {"mapping", proto::mapping_name(n.mapping)},
                    {"filtering", proto::filtering_name(n.filtering)},
                    {"port_preserved", n.port_preserved},
                    {"public", n.public_address ? n.public_address->to_string() : ""}};
    }
    std::cout << out.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    // What a server answered may be hostile: escaped before it reaches the terminal.
    const auto safe = [](std::string_view s) { return proto::terminal_text(s); };
    std::cout << "ferry doctor: checking " << safe(server.to_string()) << "\n";
    for (const auto& c : report.checks) {
      char ms[32] = "";
      if (c.milliseconds > 0) std::snprintf(ms, sizeof ms, " (%.0f ms)", c.milliseconds);
      std::cout << "  " << std::left << std::setw(16) << safe(c.name) << std::setw(9)
                << safe(c.status) << safe(c.detail) << ms << "\n";
    }
    std::cout << "\n" << safe(report.verdict) << "\n";
  }
  return report.usable ? 0 : cli::exit_status(report.failure);
}

// Where received files go, as the person will read it ("-" for stdout).
std::string output_label(const std::string& output) {
  if (output == "-") return output;
  return std::filesystem::absolute(output).lexically_normal().string();
}

}  // namespace

int ferry_main(int argc, char** argv);

// Whatever escapes is a bug: said as one line and exit 1, never an abort with a core dump.
int main(int argc, char** argv) {
  try {
    return ferry_main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ferry: internal error: " << proto::terminal_text(e.what()) << "\n";
  } catch (...) {
    std::cerr << "ferry: internal error\n";
  }
  return 1;
}

int ferry_main(int argc, char** argv) {
  // A closed stdout (ferry receive -o - | head) is an error to report, not a silent death.
  std::signal(SIGPIPE, SIG_IGN);
  if (sodium_init() < 0) {
    std::cerr << "ferry: the crypto library failed to start\n";
    return 1;
  }
  CLI::App app{"ferry: send files from any computer to any other, end-to-end encrypted", "ferry"};
  app.require_subcommand(1);
  const std::string version =
      std::string("ferry ") + cli::kVersion + " (git " + cli::kGitRevision + ")";
  app.set_version_flag("--version", version);
  auto* version_cmd = app.add_subcommand("version", "Print the version and the git revision");
  // For shell completion of codes: the word list, one per line (not listed in --help).
  auto* words_cmd = app.add_subcommand("code-words", "")->group("");

  cli::ServeFlags serve_flags;
  auto* serve_cmd = cli::add_serve_command(app, serve_flags);

  std::string server_flag;
  std::string code_flag;
  bool json = false;
  std::string text;
  std::string stdin_name = "stdin";
  std::vector<std::string> paths;
  auto* send_cmd = app.add_subcommand("send", "Send files, folders, text, or stdin (-)");
  send_cmd->add_option("--server", server_flag, "The server's URL (default: FERRY_SERVER, config)");
  send_cmd->add_option("--code", code_flag, "Use this code (NUMBER-WORDS) instead of a random one");
  send_cmd->add_flag("--json", json, "One JSON event per line on stdout");
  send_cmd->add_option("--text", text, "Send this text message instead of files");
  send_cmd->add_option("--name", stdin_name, "File name for data read from stdin")
      ->capture_default_str();
  bool force_relay = false;
  send_cmd->add_flag("--force-relay", force_relay,
                     "Send through the server's relay only (no direct paths)");
  bool direct = false;
  send_cmd->add_flag("--direct", direct,
                     "No server: the code carries this computer's addresses (its network, or a "
                     "port its router maps by UPnP/NAT-PMP)");
  bool qr = false;
  send_cmd->add_flag("--qr", qr, "Also print the link as a QR code, for a phone's camera");
  bool lan = false;
  send_cmd->add_flag("--lan", lan,
                     "No server: the receiver on this network finds this computer by the code "
                     "(the default when no server is configured)");
  send_cmd->add_option("paths", paths, "Files or folders to send; - reads stdin");

  bool yes = false;
  bool overwrite = false;
  bool rename = false;
  std::string output = ".";
  std::vector<std::string> code_args;
  int wait_seconds = 300;
  auto* recv_cmd = app.add_subcommand("receive", "Receive with a code or a link");
  recv_cmd->add_option("--server", server_flag,
                       "The server's URL (default: from the link, FERRY_SERVER, config)");
  recv_cmd->add_flag("--yes,-y", yes, "Accept the offer without asking");
  recv_cmd
      ->add_option(
          "--output,-o", output,
          "Folder to save into (created when missing); - writes one file or a text to stdout")
      ->capture_default_str();
  recv_cmd->add_flag("--overwrite", overwrite, "Replace existing files with the same names");
  recv_cmd->add_flag("--rename", rename,
                     "Keep existing files; save new ones with the same names as \"name (1).ext\"");
  recv_cmd
      ->add_option("--wait", wait_seconds,
                   "When no sender has started with this code yet, wait this many seconds for "
                   "one (0: fail at once)")
      ->capture_default_str()
      ->check(CLI::Range(0, 86400));
  recv_cmd->add_flag("--json", json, "One JSON event per line on stdout");
  recv_cmd->add_flag("--force-relay", force_relay, "Receive through the server's relay only");
  recv_cmd->add_flag("--lan", lan,
                     "No server: find the sender on this network by the code (the default when no "
                     "server is configured)");
  recv_cmd->add_option("code", code_args,
                       "The code (7-tumbler-oxcart, or 7 tumbler oxcart) or link; asked for when "
                       "missing");

  auto* doctor_cmd =
      app.add_subcommand("doctor", "Check what this network allows, against a server");
  doctor_cmd->add_option("--server", server_flag,
                         "The server's URL (default: FERRY_SERVER, config)");
  doctor_cmd->add_flag("--json", json, "Print the report as one JSON object");
  std::string stun_flag;
  doctor_cmd->add_option("--stun", stun_flag,
                         "Measure UDP against this STUN server (HOST[:PORT], default port 3478) "
                         "instead of the ferry server's own");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : cli::exit_status(Errc::usage);
  }

  // A code on the command line is visible to every user of this machine (ps, /proc/PID/cmdline)
  // for as long as the transfer runs: blank it out of the process's arguments now.
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    const bool code_value = i > 1 && std::string_view(argv[i - 1]) == "--code";
    const bool receive_code =
        *recv_cmd && std::find(code_args.begin(), code_args.end(), arg) != code_args.end();
    if (code_value || receive_code) {
      std::fill(argv[i], argv[i] + arg.size(), '*');
    } else if (arg.starts_with("--code=")) {
      std::fill(argv[i] + 7, argv[i] + arg.size(), '*');
    }
  }
  // FERRY_CODE: the code without putting it on a command line (scripts, pre-agreed codes).
  const char* env_code = std::getenv("FERRY_CODE");
  const std::string code_from_env = env_code != nullptr ? env_code : "";

  if (*version_cmd) {
    std::cout << version << "\n";
    return 0;
  }
  if (*words_cmd) {
    for (auto w : proto::code_words()) std::cout << w << "\n";
    return 0;
  }
  if (*serve_cmd) return cli::run_serve(serve_flags);

  auto server = cli::resolve_server(server_flag);
  if (!server) return usage_error(server.error().detail);

  if (*doctor_cmd) {
    if (!*server) return usage_error(cli::no_server_hint());
    return doctor(**server, stun_flag, json);
  }

  if (*send_cmd) {
    cli::Console console(cli::Console::Role::sender, json);
    if (direct && (!code_flag.empty() || force_relay || !server_flag.empty() || lan)) {
      return usage_error(
          "--direct uses no server: it cannot go with --server, --code, --lan or --force-relay");
    }
    if (lan && (force_relay || !server_flag.empty())) {
      return usage_error("--lan uses no server: it cannot go with --server or --force-relay");
    }
    // No server configured: this network only, found by the code (no usage error: it works).
    lan = lan || (!direct && !*server);
    session::SendOptions options{direct || lan ? proto::ServerUrl{} : **server, std::nullopt,
                                 force_relay, no_direct_tcp(), no_udp()};
    if (code_flag.empty() && !direct) code_flag = code_from_env;
    if (!code_flag.empty()) {
      auto code = proto::parse_code(code_flag);
      if (!code) {
        return usage_error((send_cmd->count("--code") ? "--code: " : "FERRY_CODE: ") +
                           code.error().detail);
      }
      options.code = *code;
    }
    if (send_cmd->count("--text") && !paths.empty())
      return usage_error("send either --text or files, not both");
    if (!send_cmd->count("--text") && paths.empty()) {
      return usage_error("nothing to send: name files or folders, --text \"...\", or - for stdin");
    }
    auto source = [&]() -> proto::Result<session::FileSource> {
      if (send_cmd->count("--text")) return session::FileSource::from_text(text);
      if (paths.size() == 1 && paths[0] == "-")
        return session::FileSource::from_stdin(STDIN_FILENO, stdin_name);
      return session::FileSource::from_paths({paths.begin(), paths.end()});
    }();
    if (!source) {
      console.error(source.error(), source.error().detail);
      return cli::exit_status(source.error().code);
    }
    for (const auto& s : source->skipped()) {
      console.on_event(
          session::event::Note{"skipping \"" + proto::display_name(s) +
                               "\": not a regular file or folder (links are not followed)"});
    }
    console.set_offer(&source->offer());
    console.set_qr(qr);
    if (qr && (lan || direct)) {
      console.on_event(
          session::event::Note{"--qr shows the link, and a transfer without a server has no link"});
    }
    session::Cancellation cancellation;
    options.cancellation = &cancellation;
    if (direct) {
      return run_session(console, cancellation, true,
                         session::send_direct(*source, console, &cancellation));
    }
    if (lan) {
      return run_session(console, cancellation, true,
                         session::send_lan(*source, options.code, console, &cancellation));
    }
    return run_session(console, cancellation, true, session::send(*source, options, console));
  }

  cli::Console console(cli::Console::Role::receiver, json);
  // "7 tumbler oxcart" typed as three arguments is one code.
  std::string code_arg;
  for (const auto& part : code_args) code_arg += (code_arg.empty() ? "" : " ") + part;
  if (code_arg.empty()) code_arg = code_from_env;
  if (code_arg.empty()) {
    std::cerr << "Enter the code: " << std::flush;
    if (!std::getline(std::cin, code_arg) || code_arg.empty()) return usage_error("no code given");
  }
  if (overwrite && rename) return usage_error("--overwrite and --rename cannot go together");
  session::Cancellation cancellation;
  session::ReceiveOptions options;
  options.cancellation = &cancellation;
  options.to_stdout = output == "-";
  if (options.to_stdout && json) {
    return usage_error("-o - writes the file to stdout, where --json writes its events");
  }
  options.output = output;
  options.overwrite = overwrite;
  options.rename = rename;
  options.yes = yes;
  options.wait = std::chrono::seconds(wait_seconds);
  options.force_relay = force_relay;
  options.no_tcp = no_direct_tcp();
  options.no_udp = no_udp();
  console.set_output_folder(output_label(output));
  if (proto::looks_like_direct_code(code_arg)) {
    auto direct_code = proto::parse_direct_code(code_arg);
    if (!direct_code) return usage_error(direct_code.error().detail);
    return run_session(console, cancellation, false,
                       session::receive_direct(*direct_code, options, console));
  }
  if (proto::looks_like_link(code_arg)) {
    auto link = proto::parse_link(code_arg);
    if (!link) return usage_error(link.error().detail);
    options.secret = link->secret;
    // A link exists only once its sender has the number: nothing to wait for.
    options.wait = std::chrono::seconds(0);
    if (*server && !server_flag.empty()) {
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
    if (lan && (force_relay || !server_flag.empty())) {
      return usage_error("--lan uses no server: it cannot go with --server or --force-relay");
    }
    // No server configured: the sender is looked for on this network.
    lan = lan || !*server;
    if (!lan) options.server = **server;
  }
  if (lan) {
    return run_session(console, cancellation, false,
                       session::receive_lan(options.secret, options, console));
  }
  return run_session(console, cancellation, false, session::receive(options, console));
}
