// Caps how often one address may do something: claim a code per minute (each claim burns a
// nameplate, so without a cap one client could burn every waiting code on the server), open a
// relay connection, or have a STUN request answered (per second, and a budget for all sources, so
// the responder cannot be used to amplify a flood). Time is passed in, so the policies are testable
// without clocks. Addresses are client address groups (client_address.hpp).
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

// Token buckets: each key may spend `per_second` events a second with bursts of `burst`, and all
// keys together `total_per_second` (0: no total cap). Keys idle long enough to be full again are
// forgotten, so memory follows the number of recent senders, bounded by max_keys (when full, new
// keys are refused: a flood of spoofed sources cannot grow the map).
class RateBuckets {
 public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    double per_second = 10;
    double burst = 20;
    double total_per_second = 0;
    std::size_t max_keys = 100'000;
  };
  explicit RateBuckets(Limits limits);

  enum class Verdict { allow, key_limited, total_limited };
  Verdict take(const std::string& key, Clock::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point at{};
  };
  static void refill(Bucket& b, Clock::time_point now, double rate, double burst);

  Limits limits_;
  std::unordered_map<std::string, Bucket> buckets_;
  Bucket total_;
  Clock::time_point last_sweep_{};
};

}  // namespace ferry::server
