#include "cli/config.hpp"

#include <cstdlib>
#include <fstream>

namespace ferry::cli {

std::filesystem::path config_file_path() {
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) {
    return std::filesystem::path(x) / "ferry" / "config";
  }
  if (const char* h = std::getenv("HOME"); h && *h) {
    return std::filesystem::path(h) / ".config" / "ferry" / "config";
  }
  return {};
}

namespace {
std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  const auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

std::optional<std::string> value_from_file(const std::filesystem::path& path,
                                           std::string_view key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq != std::string::npos && trim(line.substr(0, eq)) == key)
      return trim(line.substr(eq + 1));
  }
  return std::nullopt;
}
}  // namespace

proto::Result<std::optional<proto::ServerUrl>> resolve_server(const std::string& flag) {
  std::optional<std::string> text;
  if (!flag.empty()) {
    text = flag;
  } else if (const char* env = std::getenv("FERRY_SERVER"); env && *env) {
    text = env;
  } else if (const auto path = config_file_path(); !path.empty()) {
    text = value_from_file(path, "server");
  }
  if (!text) return std::optional<proto::ServerUrl>{};
  auto url = proto::parse_server_url(*text);
  if (!url) return std::unexpected(url.error());
  return std::optional<proto::ServerUrl>{*url};
}

std::string config_value(const std::string& flag, const char* env, std::string_view key,
                         std::string_view fallback) {
  if (!flag.empty()) return flag;
  if (const char* v = std::getenv(env); v && *v) return v;
  if (const auto path = config_file_path(); !path.empty()) {
    if (auto v = value_from_file(path, key)) return *v;
  }
  return std::string(fallback);
}

std::string naming_a_server() {
  return "--server http://host:4300, the FERRY_SERVER environment variable, or a line \"server = "
         "http://host:4300\" in " +
         config_file_path().string() + " (run your own with \"ferry serve\")";
}

std::string no_server_hint() {
  return "no ferry server is configured. Name one with " + naming_a_server() + ".";
}

void add_ca_file_option(CLI::App* cmd) {
  cmd->add_option_function<std::string>(
      "--ca-file", [](const std::string& file) { ::setenv("FERRY_CA_FILE", file.c_str(), 1); },
      "A CA certificate (PEM) to trust beside the system's, such as your organization's "
      "TLS-inspecting proxy's (default: FERRY_CA_FILE)");
}

}  // namespace ferry::cli
