#include "server/rate_limiter.hpp"

#include <algorithm>

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

RateBuckets::RateBuckets(Limits limits) : limits_(limits) {
  total_.tokens = limits_.total_per_second;
}

void RateBuckets::refill(Bucket& b, Clock::time_point now, double rate, double burst) {
  if (now > b.at) {
    b.tokens = std::min(burst, b.tokens + rate * std::chrono::duration<double>(now - b.at).count());
  }
  b.at = now;
}

RateBuckets::Verdict RateBuckets::take(const std::string& key, Clock::time_point now) {
  const auto full_after = std::chrono::duration<double>(limits_.burst / limits_.per_second);
  if (now - last_sweep_ > full_after && now - last_sweep_ > std::chrono::seconds(1)) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      it = now - it->second.at > full_after ? buckets_.erase(it) : std::next(it);
    }
    last_sweep_ = now;
  }
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= limits_.max_keys) return Verdict::total_limited;
    it = buckets_.emplace(key, Bucket{limits_.burst, now}).first;
  }
  Bucket& b = it->second;
  refill(b, now, limits_.per_second, limits_.burst);
  if (b.tokens < 1) return Verdict::key_limited;
  if (limits_.total_per_second > 0) {
    refill(total_, now, limits_.total_per_second, limits_.total_per_second);
    if (total_.tokens < 1) return Verdict::total_limited;
    total_.tokens -= 1;
  }
  b.tokens -= 1;
  return Verdict::allow;
}

}  // namespace ferry::server
