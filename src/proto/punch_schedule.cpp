#include "proto/punch_schedule.hpp"

#include <algorithm>

namespace ferry::proto {

std::optional<IpPort> ip_port_of(const Candidate& c) {
  auto ip = parse_ip(c.address);
  if (!ip) return std::nullopt;
  return IpPort{std::move(*ip), c.port};
}

PunchSchedule::PunchSchedule(const PunchPlan& plan, Clock::time_point start,
                             std::chrono::milliseconds budget)
    : birthday_(plan.birthday), deadline_(start + budget), next_ping_(start), next_tick_(start) {
  for (const auto& c : plan.targets) {
    if (auto t = ip_port_of(c)) add_target(*t);
  }
  if (plan.their_public) their_public_ = ip_port_of(*plan.their_public);
  if (!their_public_) birthday_ = Birthday::none;
}

std::size_t PunchSchedule::sockets_wanted() const {
  return birthday_ == Birthday::open_sockets ? kBirthdaySockets : 0;
}

void PunchSchedule::add_target(const IpPort& to) {
  if (std::find(targets_.begin(), targets_.end(), to) == targets_.end()) targets_.push_back(to);
}

std::vector<ProbeSend> PunchSchedule::due(Clock::time_point now, const Rng& rng) {
  std::vector<ProbeSend> out;
  if (exhausted(now)) return out;
  if (!first_ping_) first_ping_ = now;
  if (birthday_ == Birthday::open_sockets && !extra_pinged_) {
    extra_pinged_ = true;
    for (std::size_t s = 1; s <= extra_sockets_; ++s) out.push_back({s, *their_public_});
  }
  if (now >= next_ping_) {
    for (const auto& t : targets_) out.push_back({0, t});
    for (const auto& [socket, addr] : reflexive_) {
      out.push_back({socket, IpPort{addr.first, addr.second}});
    }
    next_ping_ = now + kPingInterval;
  }
  if (birthday_ == Birthday::probe_ports && !answered_ && now >= next_tick_) {
    for (int i = 0; i < kBirthdayProbesPerTick && random_probes_ < kBirthdayMaxProbes; ++i) {
      const auto port = static_cast<std::uint16_t>(1024 + rng(65536 - 1024));
      out.push_back({0, IpPort{their_public_->ip, port}});
      ++random_probes_;
    }
    next_tick_ = now + kTick;
  }
  return out;
}

void PunchSchedule::on_peer_probe(std::size_t socket, const IpPort& from) {
  reflexive_.insert({socket, {from.ip, from.port}});
}

void PunchSchedule::on_pong(Clock::time_point now, std::size_t socket, const IpPort& from) {
  if (answered_) return;
  answered_ = {socket, from};
  if (first_ping_) first_rtt_ = now - *first_ping_;
}

PunchSchedule::Clock::time_point PunchSchedule::next_wakeup() const {
  auto t = std::min(next_ping_, deadline_);
  const bool probing =
      birthday_ == Birthday::probe_ports && !answered_ && random_probes_ < kBirthdayMaxProbes;
  if (probing) t = std::min(t, next_tick_);
  return t;
}

}  // namespace ferry::proto
