#include "hot_key_sketch.h"

#include <algorithm>
#include <cmath>

namespace ringlb::proxy {

namespace {
// Odd multipliers give each row its own column from one key hash.
constexpr std::uint64_t kRowMultipliers[] = {0x9e3779b97f4a7c15ull, 0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull,
                                             0xd6e8feb86659fd93ull};
}  // namespace

HotKeySketch::HotKeySketch(Options options) : options_(options) {
  if (!enabled()) return;
  options_.spread = std::max<std::uint32_t>(options_.spread, 2);
  options_.window = std::max<std::uint32_t>(options_.window, static_cast<std::uint32_t>(std::ceil(32.0 / options_.share)));
  // Overestimates stay under a quarter of the threshold with high probability:
  // width e / ε with ε = share / 4, rounded up to a power of two, at most 2^16.
  const double width = std::ceil(2.72 * 4.0 / options_.share);
  columns_ = 64;
  while (columns_ < width && columns_ < (1u << 16)) columns_ <<= 1;
  counters_.assign(static_cast<std::size_t>(kRows) * columns_, 0);
  minimumTotal_ = static_cast<std::uint64_t>(std::ceil(8.0 / options_.share));
}

std::uint32_t HotKeySketch::column(std::uint32_t row, std::uint64_t hash) const noexcept {
  const std::uint64_t mixed = (hash ^ (hash >> 29)) * kRowMultipliers[row];
  return static_cast<std::uint32_t>(mixed >> 40) & (columns_ - 1);
}

std::uint64_t HotKeySketch::estimate(std::uint64_t hash) const noexcept {
  if (!enabled()) return 0;
  std::uint32_t least = ~0u;
  for (std::uint32_t row = 0; row < kRows; ++row) {
    least = std::min(least, counters_[static_cast<std::size_t>(row) * columns_ + column(row, hash)]);
  }
  return least;
}

bool HotKeySketch::hot(std::uint64_t hash) const noexcept {
  // Until the window holds enough requests, one request would look like a large share.
  if (!enabled() || total_ < minimumTotal_) return false;
  return static_cast<double>(estimate(hash)) >= options_.share * static_cast<double>(total_);
}

std::uint32_t HotKeySketch::observe(std::uint64_t hash) noexcept {
  if (!enabled()) return 1;
  // Conservative update: raise only the counters at the current minimum.
  const std::uint32_t next = static_cast<std::uint32_t>(estimate(hash)) + 1;
  for (std::uint32_t row = 0; row < kRows; ++row) {
    std::uint32_t& counter = counters_[static_cast<std::size_t>(row) * columns_ + column(row, hash)];
    counter = std::max(counter, next);
  }
  ++total_;
  if (++sinceHalving_ >= options_.window) halve();
  return hot(hash) ? options_.spread : 1;
}

void HotKeySketch::halve() noexcept {
  for (auto& counter : counters_) counter >>= 1;
  total_ >>= 1;
  sinceHalving_ = 0;
}

}  // namespace ringlb::proxy
