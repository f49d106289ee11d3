#include "ringlb/ring/maglev_table.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "ringlb/ring/hash.h"

namespace ringlb::ring {

namespace {
constexpr std::uint64_t kOffsetSeed = 0x6d61676c65763031;  // "maglev01"
constexpr std::uint64_t kSkipSeed = 0x6d61676c65763032;    // "maglev02"
constexpr std::uint32_t kEmpty = std::numeric_limits<std::uint32_t>::max();
}  // namespace

MaglevTable::Permutation MaglevTable::permutationFor(const std::string& id, std::uint32_t weight,
                                                     std::uint32_t tableSize) {
  Permutation permutation;
  permutation.offset = static_cast<std::uint32_t>(hashWithSeed(id, kOffsetSeed) % tableSize);
  permutation.skip =
      tableSize > 1 ? static_cast<std::uint32_t>(hashWithSeed(id, kSkipSeed) % (tableSize - 1) + 1) : 1;
  permutation.weight = weight;
  return permutation;
}

MaglevTable::MaglevTable(const std::vector<Permutation>& permutations, std::uint32_t tableSize)
    : memberCount_(permutations.size()) {
  if (permutations.empty()) return;
  if (tableSize == 0) throw std::invalid_argument("maglev table size must be > 0");
  for (const auto& permutation : permutations) {
    if (permutation.offset >= tableSize || permutation.skip == 0 || permutation.skip >= tableSize) {
      throw std::invalid_argument("maglev permutation needs offset < M and 0 < skip < M");
    }
  }
  table_.assign(tableSize, kEmpty);

  const std::size_t members = permutations.size();
  std::vector<std::uint64_t> next(members, 0);
  // Weighted turns: each round a member earns its weight in credit and takes a
  // turn for every maxWeight it holds, so equal weights give the paper's procedure.
  std::uint64_t maxWeight = 0;
  // Credit in thousandths of a weight, so a ramping member takes a fraction of
  // a turn per round; with every ramp at 1000 the turns are exactly as unscaled.
  const auto effective = [](const Permutation& permutation) {
    return static_cast<std::uint64_t>(permutation.weight) * permutation.rampPermille;
  };
  for (const auto& permutation : permutations) maxWeight = std::max(maxWeight, effective(permutation));
  if (maxWeight == 0) throw std::invalid_argument("maglev needs a member with a weight in effect");
  std::vector<std::uint64_t> credit(members, 0);

  std::uint32_t filled = 0;
  while (true) {
    for (std::uint32_t member = 0; member < members; ++member) {
      credit[member] += effective(permutations[member]);
      if (credit[member] < maxWeight) continue;
      credit[member] -= maxWeight;
      const std::uint64_t offset = permutations[member].offset;
      const std::uint64_t skip = permutations[member].skip;
      std::uint32_t slot = 0;
      do {
        slot = static_cast<std::uint32_t>((offset + next[member] * skip) % tableSize);
        ++next[member];
      } while (table_[slot] != kEmpty);
      table_[slot] = member;
      if (++filled == tableSize) return;
    }
  }
}

std::vector<double> MaglevTable::shares() const {
  std::vector<double> owned(memberCount_, 0.0);
  if (table_.empty()) return owned;
  std::vector<std::uint64_t> counts(memberCount_, 0);
  for (const auto member : table_) ++counts[member];
  for (std::size_t i = 0; i < memberCount_; ++i) {
    owned[i] = static_cast<double>(counts[i]) / static_cast<double>(table_.size());
  }
  return owned;
}

}  // namespace ringlb::ring
