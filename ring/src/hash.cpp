#include "ringlb/ring/hash.h"

#include <xxhash.h>

namespace ringlb::ring {

std::uint64_t hashKey(std::string_view key) noexcept { return XXH3_64bits(key.data(), key.size()); }

std::uint64_t hashWithSeed(std::string_view bytes, std::uint64_t seed) noexcept {
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

std::uint32_t rampDraw(std::uint64_t keyHash) noexcept {
  constexpr std::uint64_t kRampSeed = 0x72616d7070657231;  // "rampper1"
  unsigned char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(keyHash >> (8 * i));
  const std::uint64_t draw = XXH3_64bits_withSeed(bytes, sizeof bytes, kRampSeed);
  // ⌊draw · 1000 / 2^64⌋, as AnchorTable::reduce does it.
  const std::uint64_t high = (draw >> 32) * 1000;
  const std::uint64_t low = ((draw & 0xffffffffu) * 1000) >> 32;
  return static_cast<std::uint32_t>((high + low) >> 32);
}

}  // namespace ringlb::ring
