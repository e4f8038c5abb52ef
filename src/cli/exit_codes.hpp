// Exit statuses and the sentence a person sees for each kind of failure. Documented in README.md;
// scripts rely on them, so a status never changes meaning.
#pragma once

#include <string>

#include "proto/error.hpp"

namespace ferry::cli {

int exit_status(proto::Errc code);
// Prints "ferry: <sentence>" to stderr and returns the usage status (bad flags, URLs, codes).
int usage_error(const std::string& sentence);
// What happened and what to do next, for a person. detail adds the specifics.
std::string explain(const proto::Error& e);

}  // namespace ferry::cli
