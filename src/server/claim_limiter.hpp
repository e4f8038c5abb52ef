// Caps how many codes one address may try per minute. Each claim burns a nameplate (one guess per
// code), so without a cap one client could burn every waiting code on the server. Time is passed
// in, so the policy is testable without clocks.
#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <unordered_map>

namespace ferry::server {

class ClaimLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ClaimLimiter(std::size_t per_minute) : per_minute_(per_minute) {}

  // Records a claim from address and says whether it is within the budget.
  bool allow(const std::string& address, Clock::time_point now);

 private:
  std::size_t per_minute_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> recent_;
  Clock::time_point last_sweep_{};
};

}  // namespace ferry::server
