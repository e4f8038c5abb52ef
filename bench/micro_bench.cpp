// Per-core cost of what every byte pays on the record-layer path: seal and open under each
// cipher (Arg 0: XChaCha20-Poly1305, 1: AES-256-GCM), and BLAKE2b.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include "proto/record.hpp"
#include "proto/transfer_state.hpp"

namespace {

using namespace ferry::proto;

constexpr std::size_t kChunk = 256 * 1024;

RecordCipher cipher_of(const benchmark::State& state) {
  return state.range(0) == 0 ? RecordCipher::xchacha20poly1305 : RecordCipher::aes256gcm;
}

void BM_Seal(benchmark::State& state) {
  if (cipher_of(state) == RecordCipher::aes256gcm && !aes256gcm_available()) {
    state.SkipWithError("no hardware AES");
    return;
  }
  state.SetLabel(state.range(0) == 0 ? "XChaCha20-Poly1305" : "AES-256-GCM");
  Key key{};
  std::uint8_t header[kRecordHeaderBytes];
  RecordSealer sealer(key, header, cipher_of(state));
  const Bytes plain(kChunk, 7);
  Bytes out;
  for (auto _ : state) {
    out.clear();
    sealer.seal(plain, false, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kChunk));
}

void BM_Open(benchmark::State& state) {
  if (cipher_of(state) == RecordCipher::aes256gcm && !aes256gcm_available()) {
    state.SkipWithError("no hardware AES");
    return;
  }
  state.SetLabel(state.range(0) == 0 ? "XChaCha20-Poly1305" : "AES-256-GCM");
  Key key{};
  Bytes wire(kRecordHeaderBytes);
  RecordSealer sealer(key, wire.data(), cipher_of(state));
  const Bytes plain(kChunk, 7);
  std::vector<Bytes> records(256);
  for (auto& r : records) sealer.seal(plain, false, r);
  std::size_t i = 0;
  auto opener =
      RecordOpener::start(key, ByteView(wire).first(kRecordHeaderBytes), cipher_of(state));
  Bytes out;
  bool final = false;
  for (auto _ : state) {
    if (i == records.size()) {
      state.PauseTiming();
      opener = RecordOpener::start(key, ByteView(wire).first(kRecordHeaderBytes), cipher_of(state));
      i = 0;
      state.ResumeTiming();
    }
    auto r = opener->open(ByteView(records[i++]).subspan(kRecordLengthBytes), out, final);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kChunk));
}

void BM_Blake2b(benchmark::State& state) {
  const Bytes data(kChunk, 7);
  FileHasher h;
  for (auto _ : state) h.update(data);
  benchmark::DoNotOptimize(h.finish());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kChunk));
}

BENCHMARK(BM_Seal)->Arg(0)->Arg(1);
BENCHMARK(BM_Open)->Arg(0)->Arg(1);
BENCHMARK(BM_Blake2b);

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
