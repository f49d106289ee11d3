#include "ringlb/ring/virtual_node_ring.h"

#include <algorithm>
#include <bit>

#include "ringlb/ring/hash.h"

namespace ringlb::ring {

namespace {

__extension__ using Uint128 = unsigned __int128;

// XXH3-64 over 16 bytes: XXH3-64(id) then the point index, both little-endian.
// Seeding XXH3 with the index instead would only XOR it into short ids, and
// similar ids ("m-0", "m-1") would then share points.
std::uint64_t pointHashFromIdHash(std::uint64_t idHash, std::uint64_t index) noexcept {
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(idHash >> (8 * i));
    bytes[8 + i] = static_cast<unsigned char>(index >> (8 * i));
  }
  return hashKey(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

}  // namespace

std::uint64_t VirtualNodeRing::pointHash(std::string_view id, std::uint64_t index) noexcept {
  return pointHashFromIdHash(hashKey(id), index);
}

VirtualNodeRing::VirtualNodeRing(const std::vector<Endpoint>& endpoints, std::uint32_t virtualNodes)
    : memberCount_(endpoints.size()) {
  struct Point {
    std::uint64_t hash;
    std::uint32_t owner;
  };
  std::vector<Point> points;
  std::size_t total = 0;
  const auto pointCount = [virtualNodes](const Endpoint& endpoint) {
    return static_cast<std::uint64_t>(endpoint.weight) * virtualNodes * endpoint.rampPermille / 1000;
  };
  for (const auto& endpoint : endpoints) total += pointCount(endpoint);
  points.reserve(total);
  for (std::uint32_t owner = 0; owner < endpoints.size(); ++owner) {
    const std::uint64_t count = pointCount(endpoints[owner]);
    const std::uint64_t idHash = hashKey(endpoints[owner].id);
    for (std::uint64_t k = 0; k < count; ++k) points.push_back({pointHashFromIdHash(idHash, k), owner});
  }
  if (points.empty()) return;

  // Hashes are uniform, so a counting sort on the top bits followed by sorting
  // each (tiny) bucket is linear; one std::sort over everything dominated the build.
  // At least one bucket per point: most buckets then hold zero or one point.
  const unsigned bits = std::clamp<unsigned>(std::bit_width(points.size() - 1), 1, 24);
  bucketShift_ = 64 - bits;
  const std::size_t buckets = std::size_t{1} << bits;
  std::vector<std::uint32_t> bucketStart(buckets + 1, 0);
  for (const auto& point : points) ++bucketStart[(point.hash >> bucketShift_) + 1];
  for (std::size_t b = 0; b < buckets; ++b) bucketStart[b + 1] += bucketStart[b];
  std::vector<Point> sorted(points.size());
  std::vector<std::uint32_t> cursor(bucketStart.begin(), bucketStart.end() - 1);
  for (const auto& point : points) sorted[cursor[point.hash >> bucketShift_]++] = point;
  // Ties (astronomically rare) break by member index, i.e. by id, so every build agrees.
  const auto byHashThenOwner = [](const Point& x, const Point& y) {
    return x.hash != y.hash ? x.hash < y.hash : x.owner < y.owner;
  };
  for (std::size_t b = 0; b < buckets; ++b) {
    if (bucketStart[b + 1] - bucketStart[b] > 1) {
      std::sort(sorted.begin() + bucketStart[b], sorted.begin() + bucketStart[b + 1], byHashThenOwner);
    }
  }
  points_.reserve(sorted.size());
  owners_.reserve(sorted.size());
  for (const auto& point : sorted) {
    points_.push_back(point.hash);
    owners_.push_back(point.owner);
  }
  buckets_.resize(buckets + 1);
  for (std::size_t bucket = 0; bucket <= buckets; ++bucket) {
    const std::uint32_t position = bucketStart[bucket];
    buckets_[bucket] = {points_[wrap(position)], position, owners_[wrap(position)]};
  }
}

VirtualNodeRing::Lookup VirtualNodeRing::classify(std::uint64_t hash, const Bucket& here,
                                                  const Bucket& next) const noexcept {
  if (here.position == next.position || hash <= here.firstPoint) return Lookup::Here;
  if (next.position == here.position + 1) return Lookup::Next;
  return Lookup::Search;
}

std::uint32_t VirtualNodeRing::firstPosition(std::uint64_t hash) const noexcept {
  const std::size_t bucket = hash >> bucketShift_;
  const Bucket& here = buckets_[bucket];
  const Bucket& next = buckets_[bucket + 1];
  switch (classify(hash, here, next)) {
    case Lookup::Here: return wrap(here.position);
    case Lookup::Next: return wrap(next.position);
    case Lookup::Search: break;
  }
  const auto first = points_.begin() + here.position + 1;
  const auto last = points_.begin() + next.position;
  return wrap(static_cast<std::uint32_t>(std::lower_bound(first, last, hash) - points_.begin()));
}

std::uint32_t VirtualNodeRing::ownerOf(std::uint64_t hash) const noexcept {
  const std::size_t bucket = hash >> bucketShift_;
  const Bucket& here = buckets_[bucket];
  const Bucket& next = buckets_[bucket + 1];
  switch (classify(hash, here, next)) {
    case Lookup::Here: return here.owner;
    case Lookup::Next: return next.owner;
    case Lookup::Search: break;
  }
  return owners_[firstPosition(hash)];
}

std::vector<double> VirtualNodeRing::shares() const {
  std::vector<double> owned(memberCount_, 0.0);
  if (points_.size() == 1) {
    owned[owners_[0]] = 1.0;
    return owned;
  }
  // Arc lengths summed exactly in 128 bits, converted to a fraction once.
  std::vector<Uint128> arcs(memberCount_, 0);
  for (std::size_t i = 0; i < points_.size(); ++i) {
    // A point owns the arc (previous point, this point]; unsigned wrap handles the first arc.
    const std::uint64_t previous = points_[i == 0 ? points_.size() - 1 : i - 1];
    arcs[owners_[i]] += points_[i] - previous;
  }
  constexpr long double kCircle = 18446744073709551616.0L;  // 2^64
  for (std::size_t m = 0; m < memberCount_; ++m) owned[m] = static_cast<double>(static_cast<long double>(arcs[m]) / kCircle);
  return owned;
}

}  // namespace ringlb::ring
