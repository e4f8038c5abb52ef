// ferry's command line: the subcommands (each in its own file: send_command, receive_command,
// doctor_command, serve), the version, and what every command shares: codes kept out of `ps`,
// FERRY_CODE, and one line instead of a crash for whatever escapes.
#include <sodium.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>

#include "cli/doctor_command.hpp"
#include "cli/exit_codes.hpp"
#include "cli/receive_command.hpp"
#include "cli/send_command.hpp"
#include "cli/serve.hpp"
#include "cli/version.hpp"
#include "proto/code.hpp"
#include "proto/names.hpp"

using namespace ferry;
using proto::Errc;

int ferry_main(int argc, char** argv);

namespace {

// What a person typed where a command goes, when it is none: a sentence naming the closest one.
std::string unknown_command(const CLI::App& app, std::string_view typed) {
  std::string names;
  std::string closest;
  std::size_t best = 3;  // at most two edits away
  for (const auto* sub : app.get_subcommands({})) {
    if (sub->get_group().empty()) continue;  // hidden
    names += (names.empty() ? "" : ", ") + sub->get_name();
    if (const auto d = proto::edit_distance(typed.substr(0, 32), sub->get_name()); d < best) {
      best = d;
      closest = sub->get_name();
    }
  }
  return "ferry: \"" + proto::terminal_text(std::string(typed.substr(0, 64))) +
         "\" is not a ferry command" +
         (closest.empty() ? "" : "; did you mean \"" + closest + "\"?") + " Commands: " + names +
         " (ferry --help shows them with examples).";
}

}  // namespace

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
  app.footer(
      "Examples:\n"
      "  ferry send report.pdf photos/          prints a code and a link for the receiver\n"
      "  ferry receive 7-tumbler-oxcart         takes what the sender offers\n"
      "  ferry serve --public-url https://ferry.example.org\n"
      "                                         the server both sides and the web page use\n"
      "  ferry doctor                           what this network lets through, and why\n"
      "ferry help COMMAND (or ferry COMMAND --help) shows a command's options; man ferry says "
      "more.");
  const std::string version =
      std::string("ferry ") + cli::kVersion + " (git " + cli::kGitRevision + ")";
  app.set_version_flag("--version", version);
  auto* version_cmd = app.add_subcommand("version", "Print the version and the git revision");
  // For shell completion of codes: the word list, one per line (not listed in --help).
  auto* words_cmd = app.add_subcommand("code-words", "")->group("");

  cli::ServeFlags serve_flags;
  auto* serve_cmd = cli::add_serve_command(app, serve_flags);

  cli::SendFlags send_flags;
  auto* send_cmd = cli::add_send_command(app, send_flags);
  cli::ReceiveFlags receive_flags;
  auto* recv_cmd = cli::add_receive_command(app, receive_flags);
  cli::DoctorFlags doctor_flags;
  auto* doctor_cmd = cli::add_doctor_command(app, doctor_flags);
  send_cmd->footer(
      "Examples:\n"
      "  ferry send report.pdf photos/       files and folders; prints a code and a link\n"
      "  ferry send --text \"the wifi password\"\n"
      "  tar c logs/ | ferry send --name logs.tar -\n"
      "  ferry send --server https://ferry.example.org --code 42-acorn-zebra big.iso");
  recv_cmd->footer(
      "Examples:\n"
      "  ferry receive 7-tumbler-oxcart      asks before saving in the current folder\n"
      "  ferry receive --yes --output ~/Downloads 'https://ferry.example.org/r#7-…'\n"
      "  ferry receive -o - 7-tumbler-oxcart > file   the bytes on stdout");
  serve_cmd->footer(
      "Examples:\n"
      "  ferry serve --listen 0.0.0.0:4300 --public-url https://ferry.example.org\n"
      "  ferry serve --tls-cert cert.pem --tls-key key.pem --listen [::]:443");
  doctor_cmd->footer(
      "Examples:\n"
      "  ferry doctor                         against the configured server (FERRY_SERVER)\n"
      "  ferry doctor --server https://ferry.example.org");

  // `ferry`, `ferry help [COMMAND]` and a mistyped command get a help screen or a suggestion, not
  // CLI11's "A subcommand is required".
  if (argc < 2) {
    std::cerr << app.help();
    return cli::exit_status(Errc::usage);
  }
  const std::string_view first = argv[1];
  if (first == "help") {
    const CLI::App* about = &app;
    if (argc > 2) {
      const auto commands = app.get_subcommands({});
      const auto it = std::find_if(commands.begin(), commands.end(),
                                   [&](const CLI::App* sub) { return sub->get_name() == argv[2]; });
      if (it == commands.end()) {
        std::cerr << unknown_command(app, argv[2]) << "\n";
        return cli::exit_status(Errc::usage);
      }
      about = *it;
    }
    std::cout << (about == &app ? app.help() : about->help("ferry"));
    return 0;
  }
  const auto commands = app.get_subcommands({});
  if (!first.starts_with("-") &&
      std::none_of(commands.begin(), commands.end(),
                   [&](const CLI::App* sub) { return sub->get_name() == first; })) {
    std::cerr << unknown_command(app, first) << "\n";
    return cli::exit_status(Errc::usage);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : cli::exit_status(Errc::usage);
  }

  // A code (or a text message) on the command line is visible to every user of this machine
  // (ps, /proc/PID/cmdline) for as long as the transfer runs: blank it out of the process's
  // arguments now (CLI11 holds its own copies).
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    const std::string_view before = i > 1 ? std::string_view(argv[i - 1]) : std::string_view();
    const bool secret_value = before == "--code" || (*send_cmd && before == "--text");
    const bool receive_code =
        *recv_cmd && std::find(receive_flags.code.begin(), receive_flags.code.end(), arg) !=
                         receive_flags.code.end();
    // "--code=" and "--text=" are both 7 characters: the value after them is blanked.
    const bool secret_after_equals =
        arg.starts_with("--code=") || (*send_cmd && arg.starts_with("--text="));
    if (secret_value || receive_code) {
      std::fill(argv[i], argv[i] + arg.size(), '*');
    } else if (secret_after_equals) {
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

  if (*doctor_cmd) return cli::run_doctor_command(doctor_flags);
  if (*send_cmd) return cli::run_send(*send_cmd, send_flags, code_from_env);
  return cli::run_receive(receive_flags, code_from_env);
}
