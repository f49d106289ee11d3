#include "ringlb/ring/ring_simulator.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "ringlb/ring/bounded_load.h"
#include "ringlb/ring/hash.h"
#include "ringlb/ring/ring_snapshot.h"

namespace ringlb::ring {

namespace {

RingSpec membership(const SimulationOptions& options, std::uint32_t count) {
  RingSpec spec;
  spec.name = "sim";
  spec.algorithm = options.algorithm;
  spec.virtualNodes = options.virtualNodes;
  spec.tableSize = options.tableSize;
  spec.capacity = options.capacity != 0 ? options.capacity : 2 * (options.members + 1);
  for (std::uint32_t i = 0; i < count; ++i) spec.members.push_back({"m-" + std::to_string(i), "127.0.0.1:1", 1, {}});
  return spec;
}

struct Movement {
  double moved = 0;
  std::uint64_t unaffected = 0;
};

Movement compareOwners(const RingSnapshot& before, const RingSnapshot& after, const std::vector<std::uint64_t>& hashes,
                       const std::string& changedId) {
  std::uint64_t moved = 0;
  Movement result;
  for (const auto hash : hashes) {
    const std::string& oldOwner = before.members()[*before.owner(hash)].id;
    const std::string& newOwner = after.members()[*after.owner(hash)].id;
    if (oldOwner == newOwner) continue;
    ++moved;
    if (oldOwner != changedId && newOwner != changedId) ++result.unaffected;
  }
  result.moved = static_cast<double>(moved) / static_cast<double>(hashes.size());
  return result;
}

class CountingLoad final : public LoadView {
 public:
  explicit CountingLoad(std::size_t members) : counts_(members, 0) {}
  std::uint64_t inFlight(std::uint32_t index) const noexcept override { return counts_[index]; }
  std::uint64_t totalInFlight() const noexcept override { return total_; }
  void add(std::uint32_t index) {
    ++counts_[index];
    ++total_;
  }
  std::uint64_t peak() const { return *std::max_element(counts_.begin(), counts_.end()); }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
};

}  // namespace

SimulationReport simulate(const SimulationOptions& options) {
  if (options.members == 0) throw std::invalid_argument("--members must be ≥ 1");
  if (options.keys == 0) throw std::invalid_argument("--keys must be ≥ 1");
  const std::uint32_t n = options.members;
  const RingSnapshot base(membership(options, n));
  const RingSnapshot grown(membership(options, n + 1));
  RingSpec shrunkSpec = membership(options, n);
  const std::string removedId = "m-" + std::to_string(n / 2);
  std::erase_if(shrunkSpec.members, [&](const Member& m) { return m.id == removedId; });

  SimulationReport report;
  const auto& shares = base.shares();
  const double mean = 1.0 / n;
  double sumSquares = 0;
  for (const double share : shares) sumSquares += (share - mean) * (share - mean);
  report.shareStddevRel = std::sqrt(sumSquares / n) / mean;
  report.maxOverMean = *std::max_element(shares.begin(), shares.end()) / mean;

  std::vector<std::uint64_t> hashes(options.keys);
  for (std::uint64_t i = 0; i < options.keys; ++i) hashes[i] = hashKey("key-" + std::to_string(i));

  std::vector<std::uint64_t> keysPerMember(n, 0);
  for (const auto hash : hashes) ++keysPerMember[*base.owner(hash)];
  report.keysPeakOverMean = static_cast<double>(*std::max_element(keysPerMember.begin(), keysPerMember.end())) /
                            (static_cast<double>(options.keys) / n);

  const Movement added = compareOwners(base, grown, hashes, "m-" + std::to_string(n));
  report.movedOnAdd = added.moved;
  std::uint64_t unaffected = added.unaffected;
  if (!shrunkSpec.members.empty()) {
    const RingSnapshot shrunk(std::move(shrunkSpec));
    const Movement removed = compareOwners(base, shrunk, hashes, removedId);
    report.movedOnRemove = removed.moved;
    unaffected += removed.unaffected;
  } else {
    report.movedOnRemove = 1.0;
  }
  report.movedUnaffected = static_cast<double>(unaffected) / static_cast<double>(2 * options.keys);

  if (options.loadFactor > 0) {
    const BoundedLoadPolicy policy(options.loadFactor);
    CountingLoad load(n);
    for (const auto hash : hashes) {
      const auto choice = policy.pick(base, hash, load, n, [](std::uint32_t) { return true; });
      load.add(choice->index);
    }
    report.boundedPeakOverMean =
        static_cast<double>(load.peak()) / (static_cast<double>(options.keys) / static_cast<double>(n));
  }
  return report;
}

}  // namespace ringlb::ring
