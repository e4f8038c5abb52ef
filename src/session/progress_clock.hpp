// Rate-limits progress events to a few per second (the first is immediate, so a watcher sees the
// first byte arrive), and measures elapsed time for them.
#pragma once

#include <chrono>

namespace ferry::session {

class ProgressClock {
 public:
  ProgressClock()
      : start_(std::chrono::steady_clock::now()), last_(start_ - std::chrono::hours(1)) {}
  // True at most every interval (and always when forced).
  bool due(bool force = false) {
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return false;
    last_ = now;
    return true;
  }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace ferry::session
