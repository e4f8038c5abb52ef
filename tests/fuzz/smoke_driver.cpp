// Runs every fuzz target over its seeds and a fixed number of deterministic mutations (bit flips,
// truncations, insertions, splices). Not coverage-guided like libFuzzer, but it runs everywhere,
// under ASan+UBSan in CI, and any crash or sanitizer report fails the test.
#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string_view>

#include "targets.hpp"

// The committed corpus of a target (tests/fuzz/corpus/<name>/: libFuzzer's finds and every crash
// found along the way), as more seeds.
std::vector<std::vector<std::uint8_t>> corpus(const char* root, std::string_view name) {
  std::vector<std::vector<std::uint8_t>> out;
  std::error_code ec;
  if (root == nullptr) return out;
  for (const auto& f :
       std::filesystem::directory_iterator(std::filesystem::path(root) / name, ec)) {
    std::ifstream in(f.path(), std::ios::binary);
    out.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return out;
}

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  const long iterations = argc > 1 ? std::atol(argv[1]) : 20000;
  const char* corpus_root = argc > 2 ? argv[2] : nullptr;
  std::mt19937_64 rng(0xf3e77);
  for (const auto& t : ferry::fuzz::targets()) {
    auto seeds = t.seeds();
    const auto committed = corpus(corpus_root, t.name);
    seeds.insert(seeds.end(), committed.begin(), committed.end());
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
    std::printf("%-20s %zu corpus inputs, %ld mutated inputs, no crash\n",
                std::string(t.name).c_str(), committed.size(), iterations);
  }
  return 0;
}
