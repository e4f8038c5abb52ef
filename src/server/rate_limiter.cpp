#include "server/rate_limiter.hpp"

namespace ferry::server {

bool AddressRateLimiter::allow(const std::string& address, Clock::time_point now) {
  constexpr auto kWindow = std::chrono::minutes(1);
  if (now - last_sweep_ > kWindow) {  // forget quiet addresses so the map stays small
    for (auto it = recent_.begin(); it != recent_.end();) {
      it = (it->second.empty() || now - it->second.back() > kWindow) ? recent_.erase(it)
                                                                     : std::next(it);
    }
    last_sweep_ = now;
  }
  auto& times = recent_[address];
  while (!times.empty() && now - times.front() > kWindow) times.pop_front();
  if (times.size() >= per_minute_) return false;
  times.push_back(now);
  return true;
}

}  // namespace ferry::server
