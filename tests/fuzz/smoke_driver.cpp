// Runs every fuzz target over its seeds and a fixed number of deterministic mutations (bit flips,
// truncations, insertions, splices). Not coverage-guided like libFuzzer, but it runs everywhere,
// under ASan+UBSan in CI, and any crash or sanitizer report fails the test.
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "targets.hpp"

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  const long iterations = argc > 1 ? std::atol(argv[1]) : 20000;
  std::mt19937_64 rng(0xf3e77);
  for (const auto& t : ferry::fuzz::targets()) {
    const auto seeds = t.seeds();
    for (const auto& s : seeds) t.run(s.data(), s.size());
    for (long i = 0; i < iterations; ++i) {
      std::vector<std::uint8_t> in = seeds[rng() % seeds.size()];
      const int edits = 1 + static_cast<int>(rng() % 8);
      for (int e = 0; e < edits; ++e) {
        switch (rng() % 5) {
          case 0:
            if (!in.empty()) in[rng() % in.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
            break;
          case 1:
            if (!in.empty()) in.resize(rng() % in.size());
            break;
          case 2:
            in.insert(in.begin() + static_cast<long>(in.empty() ? 0 : rng() % in.size()),
                      static_cast<std::uint8_t>(rng()));
            break;
          case 3: {
            const auto& other = seeds[rng() % seeds.size()];
            in.insert(in.end(), other.begin(),
                      other.begin() + static_cast<long>(rng() % (other.size() + 1)));
            break;
          }
          default:
            if (!in.empty()) in[rng() % in.size()] = static_cast<std::uint8_t>(rng());
        }
      }
      t.run(in.data(), in.size());
    }
    std::printf("%-20s %ld mutated inputs, no crash\n", std::string(t.name).c_str(), iterations);
  }
  return 0;
}
