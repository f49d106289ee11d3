#include "ringlb/ring/anchor_overlay.h"

namespace ringlb::ring {

std::uint32_t AnchorOverlay::base(Field field, std::uint32_t key) const noexcept {
  switch (field) {
    case kAnchor: return table_->anchorOf(key);
    case kNext: return table_->replacementOf(key);
    case kWorkingAt: return table_->workingAt(key);
    case kPlaceOf: return table_->placeOf(key);
    case kFields: break;
  }
  return 0;
}

std::uint32_t AnchorOverlay::get(Field field, std::uint32_t key) const noexcept {
  if (!dense_[field].empty()) return dense_[field][key];
  const Changes& changes = changes_[field];
  for (std::size_t i = changes.count; i-- > 0;) {
    if (changes.entries[i].key == key) return changes.entries[i].value;
  }
  return base(field, key);
}

void AnchorOverlay::set(Field field, std::uint32_t key, std::uint32_t value) {
  if (dense_[field].empty()) {
    Changes& changes = changes_[field];
    for (std::size_t i = 0; i < changes.count; ++i) {
      if (changes.entries[i].key == key) {
        changes.entries[i].value = value;
        return;
      }
    }
    if (changes.count < kInlineChanges) {
      changes.entries[changes.count++] = {key, value};
      return;
    }
    // Out of inline space: copy every field with its changes, then write through.
    const std::uint32_t capacity = table_->capacity();
    for (int f = 0; f < kFields; ++f) {
      std::vector<std::uint32_t> copy(capacity);
      for (std::uint32_t k = 0; k < capacity; ++k) copy[k] = get(static_cast<Field>(f), k);
      dense_[f] = std::move(copy);
    }
  }
  dense_[field][key] = value;
}

void AnchorOverlay::removeBucket(std::uint32_t bucket) {
  --working_;
  set(kAnchor, bucket, working_);
  const std::uint32_t last = get(kWorkingAt, working_);
  const std::uint32_t place = get(kPlaceOf, bucket);
  set(kWorkingAt, place, last);
  set(kPlaceOf, last, place);
  set(kNext, bucket, last);
}

void AnchorOverlay::removeMember(std::uint32_t index) {
  for (const std::uint32_t* b = table_->bucketsBegin(index); b != table_->bucketsEnd(index); ++b) {
    if (working_ == 0) return;
    removeBucket(*b);
  }
}

std::uint32_t AnchorOverlay::lookup(std::uint64_t keyHash) const noexcept {
  if (working_ == 0) return AnchorTable::kUnused;
  const std::uint32_t capacity = table_->capacity();
  std::uint32_t bucket = table_->initialBucket(keyHash);
  for (std::uint32_t hops = 0; hops < capacity; ++hops) {
    const std::uint32_t size = get(kAnchor, bucket);
    if (size == 0) return bucket;
    std::uint32_t candidate = AnchorTable::reduce(AnchorTable::hopHash(keyHash, bucket), size);
    for (std::uint32_t steps = 0; get(kAnchor, candidate) >= size && steps < capacity; ++steps) {
      candidate = get(kNext, candidate);
    }
    bucket = candidate;
  }
  return bucket;
}

}  // namespace ringlb::ring
