// Ring micro-benchmarks: pick on a precomputed hash, hash + pick, and build times.
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "ringlb/ring/hash.h"
#include "ringlb/ring/ring_snapshot.h"

namespace {

using namespace ringlb::ring;

RingSpec membership(Algorithm algorithm, int n) {
  RingSpec spec;
  spec.name = "bench";
  spec.algorithm = algorithm;
  spec.virtualNodes = 160;
  spec.tableSize = 65537;
  spec.capacity = static_cast<std::uint32_t>(2 * n);  // anchor: twice the members in buckets
  for (int i = 0; i < n; ++i) spec.members.push_back({"m-" + std::to_string(i), "127.0.0.1:1", 1, MemberState::Ready});
  return spec;
}

std::vector<std::uint64_t> randomHashes() {
  std::mt19937_64 random(1);
  std::vector<std::uint64_t> hashes(1 << 16);
  for (auto& hash : hashes) hash = random();
  return hashes;
}

void pickPrecomputedHash(benchmark::State& state, Algorithm algorithm) {
  const RingSnapshot ring(membership(algorithm, static_cast<int>(state.range(0))));
  const auto hashes = randomHashes();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ring.pickReady(hashes[i++ & 0xffff]));
  }
}

void hashAndPick32ByteKey(benchmark::State& state, Algorithm algorithm) {
  const RingSnapshot ring(membership(algorithm, 1000));
  std::vector<std::string> keys;
  for (int i = 0; i < 4096; ++i) {
    std::string key = "/planetary/apod?date=" + std::to_string(1000000 + i);
    key.resize(32, 'x');
    keys.push_back(key);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ring.pickReady(hashKey(keys[i++ & 4095])));
  }
}

void buildRing(benchmark::State& state) {
  const RingSpec spec = membership(Algorithm::Ring, static_cast<int>(state.range(0)));
  for (auto _ : state) {
    RingSnapshot ring(spec);
    benchmark::DoNotOptimize(ring.placement().positionCount());
  }
}

void buildAlgorithm(benchmark::State& state, Algorithm algorithm) {
  const RingSpec spec = membership(algorithm, static_cast<int>(state.range(0)));
  for (auto _ : state) {
    RingSnapshot ring(spec);
    benchmark::DoNotOptimize(ring.placement().positionCount());
  }
}

}  // namespace

BENCHMARK_CAPTURE(pickPrecomputedHash, ring, Algorithm::Ring)->Arg(1000);
BENCHMARK_CAPTURE(pickPrecomputedHash, maglev, Algorithm::Maglev)->Arg(1000);
BENCHMARK_CAPTURE(pickPrecomputedHash, anchor, Algorithm::Anchor)->Arg(1000);
BENCHMARK_CAPTURE(hashAndPick32ByteKey, ring, Algorithm::Ring);
BENCHMARK_CAPTURE(hashAndPick32ByteKey, maglev, Algorithm::Maglev);
BENCHMARK_CAPTURE(hashAndPick32ByteKey, anchor, Algorithm::Anchor);
BENCHMARK(buildRing)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(buildAlgorithm, maglev, Algorithm::Maglev)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(buildAlgorithm, anchor, Algorithm::Anchor)->Arg(1000)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
