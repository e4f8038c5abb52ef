// Which of two direct pipes carries a transfer when both a TCP and a QUIC one opened: the one that
// moves more, measured on the transfer's own bytes, never guessed. Where TCP runs a loss-based
// congestion control (CUBIC: the default wherever BBR is not allowed to the user), a long lossy
// link takes it to a few percent of its rate while QUIC (BBR in ferry's own stack) keeps most of
// it; on a clean LAN kernel TCP outruns QUIC. Sans-I/O: the sender reports the bytes it handed to
// the pipe in use and the time, and asks between records what to do.
//
// The first pipe carries from the start. When the other opens, the first is measured (after its
// warm-up) in windows of kMeasure; once what is left would take at least kWorthTrying at its
// rate, the transfer tries the other pipe ("moved" on the first, which stays open), lets it warm
// up, measures it for kMeasure, and keeps the faster: it stays on the trial pipe, or moves back
// to the first; either way the pipe left stays open. The pipe kept is measured on: one measured
// early (TCP in slow start, before its first loss, its buffers filling) may fall far behind later,
// and when it moves less than kFallenBehind of what the other did, and switching would end the
// transfer sooner (what is left at the other's rate, plus kWarmUp + kMeasure to get going), the
// transfer switches: it falls back to the first, or tries the other again; kMaxTrials switches in
// all. A pipe dropped for good is closed once the receiver has confirmed the transfer (records may
// still be queued on it).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace ferry::proto {

class PipeChoice {
 public:
  using Clock = std::chrono::steady_clock;
  // Not measured after a pipe starts carrying: its buffers fill at memory speed, its congestion
  // window opens.
  static constexpr std::chrono::milliseconds kWarmUp{1000};
  static constexpr std::chrono::milliseconds kMeasure{1500};
  // A trial costs at most kWarmUp + kMeasure on the slower pipe: worth it only for a transfer
  // that has at least this long left.
  static constexpr std::chrono::seconds kWorthTrying{15};
  // On a slow pipe a record is sized to take about this long, so that the choice is asked again
  // soon (a 1 MiB record takes seconds where CUBIC has collapsed), and no smaller than this.
  static constexpr std::chrono::milliseconds kDecisionStep{250};
  static constexpr std::size_t kMinRecord = std::size_t{64} * 1024;
  static constexpr double kFallenBehind = 0.5;
  static constexpr int kMaxTrials = 2;

  enum class Step : std::uint8_t {
    stay,        // go on on the pipe in use
    try_other,   // say "moved" on the pipe in use (keep it open) and carry on on the other
    move_back,   // say "moved" on the trial pipe (keep it open), carry on on the first again
    keep_trial,  // the trial pipe moved more: go on on it, the first kept open in case
    fall_back,   // the trial pipe kept fell behind: "moved" on it (kept open), back to the first
    drop_other   // drop the pipe not in use: the choice is made
  };

  explicit PipeChoice(Clock::time_point start) : carrying_since_(start) {}

  // bytes more were handed to the pipe in use, the last of them at now (the record began at the
  // last call to next()).
  void sent(std::uint64_t bytes, Clock::time_point now);
  // How much to put in the next record, at most `most`: what the pipe in use took in about
  // kDecisionStep lately (growing at most twofold per record), until the choice is made.
  std::size_t record_bytes(std::size_t most) const;
  // The other pipe is ready to carry.
  void other_ready(Clock::time_point now);
  // Between records: what to do, with remaining bytes still to send (the largest value when
  // that is unknown: a stream).
  Step next(Clock::time_point now, std::uint64_t remaining);

  bool deciding() const { return phase_ == Phase::measuring_first || phase_ == Phase::trial; }
  // Bytes per second, once measured (the trial's, after fall_back: what it fell to).
  std::optional<double> first_rate() const { return first_rate_; }
  std::optional<double> trial_rate() const { return trial_rate_; }

 private:
  enum class Phase : std::uint8_t { alone, measuring_first, trial, watching, decided };
  // Measures the pipe in use from the later of `from` and its warm-up's end; the rate once
  // kMeasure has passed since.
  std::optional<double> measure(Clock::time_point now);
  void start_measuring(Clock::time_point from);
  Step start_trial(Clock::time_point now);
  // Watching the pipe kept (the first, or the trial's winner) from now on, if switches are left;
  // warm_up: it starts carrying now, so its first kWarmUp is not measured.
  void watch(Clock::time_point now, bool warm_up);

  Phase phase_ = Phase::alone;
  std::uint64_t total_ = 0;
  Clock::time_point carrying_since_;
  std::optional<Clock::time_point> mark_at_;
  std::uint64_t mark_bytes_ = 0;
  Clock::time_point measure_from_{};
  std::optional<double> first_rate_;
  std::optional<double> trial_rate_;
  Clock::time_point record_started_{};
  std::optional<std::uint64_t> record_target_;
  int trials_ = 0;
  bool on_trial_ = false;  // watching the trial pipe, kept (the first is the other)
};

}  // namespace ferry::proto
