#include "ringlb/ring/hash.h"

#include <xxhash.h>

namespace ringlb::ring {

std::uint64_t hashKey(std::string_view key) noexcept { return XXH3_64bits(key.data(), key.size()); }

std::uint64_t hashWithSeed(std::string_view bytes, std::uint64_t seed) noexcept {
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

}  // namespace ringlb::ring
