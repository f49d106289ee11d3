#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "ringlb/ring/anchor_table.h"

namespace ringlb::ring {

/// An AnchorTable with some members removed on top, without touching the
/// table: the successors of a key are where it goes once the members before
/// them have left, each removed after the table's own history. The first
/// kInlineChanges changed entries live inline (a request's retries never
/// allocate); past that the four arrays are copied once.
class AnchorOverlay {
 public:
  explicit AnchorOverlay(const AnchorTable& table) noexcept : table_(&table), working_(table.workingCount()) {}

  /// Removes every bucket of member `index`, highest first. The member must
  /// still hold working buckets here.
  void removeMember(std::uint32_t index);

  /// The working bucket that owns `keyHash` with the removals applied, or
  /// AnchorTable::kUnused when no bucket is left.
  std::uint32_t lookup(std::uint64_t keyHash) const noexcept;

  std::uint32_t workingCount() const noexcept { return working_; }

 private:
  static constexpr std::size_t kInlineChanges = 32;
  struct Entry {
    std::uint32_t key = 0;
    std::uint32_t value = 0;
  };
  // One of A, K, W, L (see AnchorTable): changed entries over the table's.
  struct Changes {
    std::array<Entry, kInlineChanges> entries{};
    std::size_t count = 0;
  };
  enum Field { kAnchor, kNext, kWorkingAt, kPlaceOf, kFields };

  std::uint32_t get(Field field, std::uint32_t key) const noexcept;
  void set(Field field, std::uint32_t key, std::uint32_t value);
  std::uint32_t base(Field field, std::uint32_t key) const noexcept;
  void removeBucket(std::uint32_t bucket);

  const AnchorTable* table_;
  std::uint32_t working_;
  std::array<Changes, kFields> changes_{};
  std::array<std::vector<std::uint32_t>, kFields> dense_;  // all four filled once inline space runs out
};

}  // namespace ringlb::ring
