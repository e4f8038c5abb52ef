#include "server/server_log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <mutex>
#include <span>
#include <vector>

namespace ferry::server {

namespace {
struct LogState {
  std::shared_ptr<spdlog::logger> logger;
  LogFormat format = LogFormat::text;
  struct Throttle {
    std::chrono::steady_clock::time_point last{};
    std::uint64_t held_back = 0;
  };
  std::map<std::string, Throttle, std::less<>> throttles;
  std::mutex mutex;
};

LogState& state() {
  static LogState s;  // the process's one stderr log, like stderr itself
  return s;
}

std::shared_ptr<spdlog::logger> logger() {
  auto& s = state();
  if (!s.logger) {
    s.logger = std::make_shared<spdlog::logger>("ferry-server",
                                                std::make_shared<spdlog::sinks::stderr_sink_mt>());
    s.logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    s.logger->set_level(spdlog::level::info);
    s.logger->flush_on(spdlog::level::trace);
  }
  return s.logger;
}

// JSON text of a value: ASCII only, control characters escaped, bad UTF-8 replaced.
std::string dump(const nlohmann::json& v) {
  return v.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

// Text form: numbers and plain words as they are; anything else as a JSON string (quoted, escaped).
std::string text_value(const nlohmann::json& v) {
  if (!v.is_string()) return dump(v);
  const auto& s = v.get_ref<const std::string&>();
  const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("._:/-[]@").find(c) != std::string_view::npos;
  });
  return plain ? s : dump(v);
}
}  // namespace

void configure_server_log(spdlog::level::level_enum level, LogFormat format) {
  auto l = logger();
  l->set_level(level);
  state().format = format;
  if (format == LogFormat::json) {
    l->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})",
                   spdlog::pattern_time_type::utc);
  } else {
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
}

namespace {
std::string format_fields(LogFormat format, std::string_view event,
                          std::span<const LogField> fields) {
  std::string out;
  if (format == LogFormat::json) {
    out = "\"event\":" + dump(std::string(event));
    for (const auto& [k, v] : fields) out += "," + dump(std::string(k)) + ":" + dump(v);
    return out;
  }
  out = std::string(event);
  for (const auto& [k, v] : fields) out += " " + std::string(k) + "=" + text_value(v);
  return out;
}

void write(spdlog::level::level_enum level, std::string_view event,
           std::span<const LogField> fields) {
  auto l = logger();
  if (!l->should_log(level)) return;
  l->log(level, format_fields(state().format, event, fields));
}
}  // namespace

std::string format_log_fields(LogFormat format, std::string_view event,
                              std::initializer_list<LogField> fields) {
  return format_fields(format, event, {fields.begin(), fields.size()});
}

void log_event(spdlog::level::level_enum level, std::string_view event,
               std::initializer_list<LogField> fields) {
  write(level, event, {fields.begin(), fields.size()});
}

void log_throttled(std::string_view key, spdlog::level::level_enum level, std::string_view event,
                   std::initializer_list<LogField> fields) {
  auto& s = state();
  std::uint64_t held_back = 0;
  {
    std::lock_guard lock(s.mutex);
    auto it = s.throttles.find(key);
    if (it == s.throttles.end())
      it = s.throttles.emplace(std::string(key), LogState::Throttle{}).first;
    const auto now = std::chrono::steady_clock::now();
    if (it->second.last != std::chrono::steady_clock::time_point{} &&
        now - it->second.last < std::chrono::seconds(1)) {
      ++it->second.held_back;
      return;
    }
    held_back = it->second.held_back;
    it->second = {now, 0};
  }
  std::vector<LogField> all(fields);
  if (held_back > 0) all.emplace_back("held_back", held_back);
  write(level, event, all);
}

}  // namespace ferry::server
