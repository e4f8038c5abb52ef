// What a person (or a script, with --json) sees of a transfer: the code, the offer, the path, a
// one-line progress bar on a terminal, the result, and errors as sentences.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "proto/error.hpp"
#include "session/observer.hpp"

namespace ferry::cli {

class Console : public session::Observer {
 public:
  enum class Role { sender, receiver };
  Console(Role role, bool json);

  // Sender: what is being sent, for the first lines.
  void set_offer(const proto::Offer* offer) { offer_ = offer; }
  void set_output_folder(std::string folder) { folder_ = std::move(folder); }
  // Sender: print the link as a QR code too (--qr).
  void set_qr(bool qr) { qr_ = qr; }

  void on_event(const session::Event& e) override;
  void ask_accept(const proto::Offer& offer, const std::vector<std::string>& existing,
                  std::function<void(session::Answer)> answer) override;
  void error(const proto::Error& e, const std::string& sentence);

 private:
  void clear_progress();
  void emit_json(const nlohmann::json& event);

  Role role_;
  bool json_;
  bool tty_;
  bool progress_shown_ = false;
  const proto::Offer* offer_ = nullptr;
  std::string folder_;
  bool qr_ = false;
  std::uint64_t resumed_ = 0;   // bytes a resume found already there
  bool received_text_ = false;  // the receiver got a text message
};

// One line: "photos/ (12 files, 1.3 GB)" or "3 items (...)".
std::string summarize_offer(const proto::Offer& offer);
// The first files, one per line, for the receiver to judge.
std::string list_offer(const proto::Offer& offer);

}  // namespace ferry::cli
