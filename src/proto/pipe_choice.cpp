#include "proto/pipe_choice.hpp"

#include <algorithm>

namespace ferry::proto {

void PipeChoice::start_measuring(Clock::time_point from) {
  measure_from_ = std::max(from, carrying_since_ + kWarmUp);
  mark_at_.reset();
}

std::optional<double> PipeChoice::measure(Clock::time_point now) {
  if (now < measure_from_) return std::nullopt;
  if (!mark_at_) {
    mark_at_ = now;
    mark_bytes_ = total_;
    return std::nullopt;
  }
  const auto elapsed = now - *mark_at_;
  if (elapsed < kMeasure) return std::nullopt;
  const double seconds = std::chrono::duration<double>(elapsed).count();
  return static_cast<double>(total_ - mark_bytes_) / seconds;
}

void PipeChoice::sent(std::uint64_t bytes, Clock::time_point now) {
  total_ += bytes;
  if (bytes == 0) return;
  const double seconds = std::chrono::duration<double>(now - record_started_).count();
  const double step = std::chrono::duration<double>(kDecisionStep).count();
  const double target = seconds > 0 ? static_cast<double>(bytes) * step / seconds : 2.0 * bytes;
  record_target_ = static_cast<std::uint64_t>(std::min(target, 2.0 * static_cast<double>(bytes)));
}

std::size_t PipeChoice::record_bytes(std::size_t most) const {
  if (phase_ == Phase::decided || !record_target_) return most;
  return static_cast<std::size_t>(
      std::clamp<std::uint64_t>(*record_target_, std::min(kMinRecord, most), most));
}

PipeChoice::Step PipeChoice::start_trial(Clock::time_point now) {
  ++trials_;
  phase_ = Phase::trial;
  carrying_since_ = now;
  start_measuring(now);
  return Step::try_other;
}

void PipeChoice::watch(Clock::time_point now, bool warm_up) {
  phase_ = trials_ < kMaxTrials ? Phase::watching : Phase::decided;
  if (warm_up) carrying_since_ = now;
  start_measuring(now);
}

namespace {
// Whether leaving a pipe that moves `rate` for one known to move `other` ends the transfer sooner,
// counting a warm-up and a measuring window to get going there.
bool worth_switching(std::uint64_t remaining, double rate, double other) {
  const double left = static_cast<double>(remaining);
  const double cost =
      std::chrono::duration<double>(PipeChoice::kWarmUp + PipeChoice::kMeasure).count();
  return rate <= 0 || left / rate > left / other + cost;
}
}  // namespace

void PipeChoice::other_ready(Clock::time_point now) {
  if (phase_ != Phase::alone) return;
  phase_ = Phase::measuring_first;
  start_measuring(now);
}

PipeChoice::Step PipeChoice::next(Clock::time_point now, std::uint64_t remaining) {
  record_started_ = now;
  switch (phase_) {
    case Phase::alone:
    case Phase::decided:
      return Step::stay;
    case Phase::measuring_first: {
      const auto rate = measure(now);
      if (!rate) return Step::stay;
      first_rate_ = rate;
      const double worth = *first_rate_ * static_cast<double>(kWorthTrying.count());
      if (static_cast<double>(remaining) < worth) {
        // Nearly done at this rate: not worth a trial, but measured on (TCP measured in slow
        // start, before its first loss, may slow down far later).
        start_measuring(now);
        return Step::stay;
      }
      return start_trial(now);
    }
    case Phase::trial: {
      trial_rate_ = measure(now);
      if (!trial_rate_) return Step::stay;
      const bool trial_won = *trial_rate_ > *first_rate_;
      on_trial_ = trial_won;
      // The pipe kept is measured on: the trial from the next window (it is past its warm-up),
      // the first after a warm-up (it sat idle during the trial).
      watch(now, !trial_won);
      if (!trial_won) return Step::move_back;
      return phase_ == Phase::decided ? Step::drop_other : Step::keep_trial;
    }
    case Phase::watching: {
      const auto rate = measure(now);
      if (!rate) return Step::stay;
      const double other = on_trial_ ? *first_rate_ : *trial_rate_;
      if (*rate < kFallenBehind * other && worth_switching(remaining, *rate, other)) {
        if (!on_trial_) {
          first_rate_ = rate;
          return start_trial(now);
        }
        ++trials_;
        trial_rate_ = rate;
        on_trial_ = false;
        watch(now, true);
        return Step::fall_back;
      }
      start_measuring(now);  // the next window
      return Step::stay;
    }
  }
  return Step::stay;
}

}  // namespace ferry::proto
