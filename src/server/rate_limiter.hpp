// Caps how often one address may do something per minute: claim a code (each claim burns a
// nameplate, so without a cap one client could burn every waiting code on the server), or open a
// relay connection. Time is passed in, so the policy is testable without clocks.
#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <unordered_map>

namespace ferry::server {

class AddressRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit AddressRateLimiter(std::size_t per_minute) : per_minute_(per_minute) {}

  // Records an event from address and says whether it is within the budget.
  bool allow(const std::string& address, Clock::time_point now);

 private:
  std::size_t per_minute_;
  std::unordered_map<std::string, std::deque<Clock::time_point>> recent_;
  Clock::time_point last_sweep_{};
};

}  // namespace ferry::server
