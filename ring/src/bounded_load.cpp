#include "ringlb/ring/bounded_load.h"

#include <cmath>

namespace ringlb::ring {

BoundedLoadPolicy::BoundedLoadPolicy(double loadFactor) noexcept : loadFactor_(loadFactor < 1.0 ? 1.0 : loadFactor) {}

std::uint64_t BoundedLoadPolicy::capacity(std::uint64_t totalInFlight, std::size_t eligibleMembers) const noexcept {
  if (eligibleMembers == 0) return 0;
  const double bound =
      std::ceil(loadFactor_ * static_cast<double>(totalInFlight + 1) / static_cast<double>(eligibleMembers));
  return static_cast<std::uint64_t>(bound);
}

}  // namespace ringlb::ring
