#include "ringlb/ring/anchor_table.h"

#include <algorithm>
#include <stdexcept>

#include "ringlb/ring/hash.h"

namespace ringlb::ring {

std::vector<std::uint32_t> AnchorTable::layout(const std::vector<Endpoint>& endpoints, std::uint32_t capacity) {
  std::vector<std::uint32_t> owners(capacity, kUnused);
  std::vector<std::uint32_t> bySlot(endpoints.size());
  for (std::uint32_t i = 0; i < endpoints.size(); ++i) {
    bySlot[i] = i;
    if (endpoints[i].slot >= capacity) throw std::invalid_argument("anchor slot beyond capacity");
    if (owners[endpoints[i].slot] != kUnused) throw std::invalid_argument("anchor slots repeat");
    owners[endpoints[i].slot] = i;
  }
  std::sort(bySlot.begin(), bySlot.end(),
            [&](std::uint32_t x, std::uint32_t y) { return endpoints[x].slot < endpoints[y].slot; });
  std::uint32_t top = capacity;
  for (const std::uint32_t i : bySlot) {
    for (std::uint32_t copy = 1; copy < endpoints[i].weight; ++copy) {
      if (top == 0 || owners[top - 1] != kUnused) throw std::invalid_argument("anchor weights exceed capacity");
      owners[--top] = i;
    }
  }
  return owners;
}

AnchorTable::AnchorTable(std::vector<std::uint32_t> bucketOwners, std::size_t memberCount)
    : owners_(std::move(bucketOwners)), memberCount_(memberCount) {
  if (memberCount_ == 0) return;
  if (owners_.empty()) throw std::invalid_argument("anchor capacity must be > 0");
  const auto a = static_cast<std::uint32_t>(owners_.size());
  anchor_.assign(a, 0);
  next_.resize(a);
  workingAt_.resize(a);
  placeOf_.resize(a);
  for (std::uint32_t b = 0; b < a; ++b) next_[b] = workingAt_[b] = placeOf_[b] = b;
  working_ = a;
  // The derived history: every bucket starts working; the unused ones leave highest first.
  for (std::uint32_t b = a; b-- > 0;) {
    if (owners_[b] == kUnused) remove(b);
  }
  if (working_ == 0) throw std::invalid_argument("anchor table has members but no working bucket");

  memberStart_.assign(memberCount_ + 1, 0);
  for (const auto owner : owners_) {
    if (owner == kUnused) continue;
    if (owner >= memberCount_) throw std::invalid_argument("anchor bucket owner out of range");
    ++memberStart_[owner + 1];
  }
  for (std::size_t m = 0; m < memberCount_; ++m) memberStart_[m + 1] += memberStart_[m];
  memberBuckets_.resize(working_);
  std::vector<std::uint32_t> fill(memberStart_.begin(), memberStart_.end() - 1);
  for (std::uint32_t b = a; b-- > 0;) {
    if (owners_[b] != kUnused) memberBuckets_[fill[owners_[b]]++] = b;
  }
}

void AnchorTable::remove(std::uint32_t bucket) noexcept {
  --working_;
  anchor_[bucket] = working_;
  const std::uint32_t last = workingAt_[working_];
  workingAt_[placeOf_[bucket]] = last;
  placeOf_[last] = placeOf_[bucket];
  next_[bucket] = last;
}

std::uint64_t AnchorTable::hopHash(std::uint64_t keyHash, std::uint32_t bucket) noexcept {
  unsigned char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(keyHash >> (8 * i));
  return hashWithSeed(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes), bucket);
}

std::uint32_t AnchorTable::firstPosition(std::uint64_t hash) const noexcept {
  std::uint32_t bucket = initialBucket(hash);
  // Each hop lands on a bucket with a smaller anchor, and so does each
  // replacement step, so both loops end within `capacity` steps.
  for (std::uint32_t hops = 0; anchor_[bucket] != 0 && hops < capacity(); ++hops) {
    const std::uint32_t size = anchor_[bucket];
    std::uint32_t candidate = reduce(hopHash(hash, bucket), size);
    for (std::uint32_t steps = 0; anchor_[candidate] >= size && steps < capacity(); ++steps) {
      candidate = next_[candidate];
    }
    bucket = candidate;
  }
  return bucket;
}

std::vector<double> AnchorTable::shares() const {
  std::vector<double> owned(memberCount_, 0.0);
  if (working_ == 0) return owned;
  for (std::size_t m = 0; m < memberCount_; ++m) {
    owned[m] = static_cast<double>(memberStart_[m + 1] - memberStart_[m]) / working_;
  }
  return owned;
}

}  // namespace ringlb::ring
