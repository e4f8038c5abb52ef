// libFuzzer entry point for one target of targets.cpp, named by FERRY_FUZZ_TARGET_NAME (the
// "fuzz" preset builds ferry_fuzz_<name> for each; scripts/fuzz.sh runs them).
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "targets.hpp"

namespace {
const ferry::fuzz::Target& chosen() {
  static const ferry::fuzz::Target* target = [] {
    if (sodium_init() < 0) std::abort();
    for (const auto& t : ferry::fuzz::targets()) {
      if (t.name == std::string_view(FERRY_FUZZ_TARGET_NAME)) return &t;
    }
    std::fprintf(stderr, "no fuzz target %s\n", FERRY_FUZZ_TARGET_NAME);
    std::abort();
  }();
  return *target;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return chosen().run(data, size);
}
