// Golden placements: these exact owners are the routing contract between
// every proxy and operator version. A change here breaks mixed-version fleets.
#include <gtest/gtest.h>

#include "ringlb/ring/anchor_table.h"
#include "ringlb/ring/hash.h"
#include "ringlb/ring/maglev_table.h"
#include "ringlb/ring/virtual_node_ring.h"
#include "ringlb/ring/ring_snapshot.h"

namespace ringlb::ring {
namespace {

RingSnapshot goldenRing(Algorithm algorithm) {
  RingSpec spec;
  spec.name = "golden";
  spec.version = 1;
  spec.algorithm = algorithm;
  spec.virtualNodes = 160;
  spec.tableSize = 65537;
  spec.capacity = 16;
  for (int i = 0; i < 5; ++i) {
    spec.members.push_back({"apod-" + std::to_string(i), "127.0.0.1:" + std::to_string(8000 + i),
                            static_cast<std::uint32_t>(i == 4 ? 2 : 1), MemberState::Ready});
  }
  return RingSnapshot(spec);
}

const char* const kKeys[] = {"/", "/planetary/apod", "/planetary/apod?date=2024-01-01", "user-1", "user-2",
                             "user-3", "alpha", "beta", "gamma", "delta", "epsilon", "zeta"};

std::vector<std::string> owners(const RingSnapshot& ring) {
  std::vector<std::string> out;
  for (const char* key : kKeys) out.push_back(ring.members()[*ring.owner(hashKey(key))].id);
  return out;
}

TEST(GoldenPlacement, HashKeyIsXxh3WithSeedZero) {
  EXPECT_EQ(hashKey(""), 0x2d06800538d394c2ull);
  EXPECT_EQ(hashKey("/planetary/apod"), 17847730714605700487ull);
}

TEST(GoldenPlacement, RingPointsAndMaglevPermutation) {
  EXPECT_EQ(VirtualNodeRing::pointHash("apod-0", 0), 3275354178847001133ull);
  EXPECT_EQ(VirtualNodeRing::pointHash("apod-0", 159), 3729936554587181639ull);
  const auto permutation = MaglevTable::permutationFor("apod-0", 1, 65537);
  EXPECT_EQ(permutation.offset, 63073u);
  EXPECT_EQ(permutation.skip, 5571u);
}

TEST(GoldenPlacement, Ring) {
  EXPECT_EQ(owners(goldenRing(Algorithm::Ring)), (std::vector<std::string>{"apod-0", "apod-0", "apod-4", "apod-1", "apod-1", "apod-2", "apod-4", "apod-2", "apod-4", "apod-4", "apod-2", "apod-3"}));
}

TEST(GoldenPlacement, Maglev) {
  EXPECT_EQ(owners(goldenRing(Algorithm::Maglev)), (std::vector<std::string>{"apod-4", "apod-0", "apod-2", "apod-2", "apod-1", "apod-0", "apod-2", "apod-3", "apod-3", "apod-4", "apod-3", "apod-4"}));
}

// Anchor: apod-4's second unit of weight holds bucket 15; the unused buckets
// 14 … 5 leave highest first, so the hop hash and the history are the contract.
TEST(GoldenPlacement, AnchorHopHash) {
  EXPECT_EQ(AnchorTable::hopHash(hashKey("/planetary/apod"), 7), 3262561114882112533ull);
  EXPECT_EQ(AnchorTable::reduce(~0ull, 16), 15u);
  EXPECT_EQ(AnchorTable::reduce(0, 16), 0u);
}

TEST(GoldenPlacement, Anchor) {
  EXPECT_EQ(owners(goldenRing(Algorithm::Anchor)), (std::vector<std::string>{"apod-4", "apod-4", "apod-3", "apod-4", "apod-2", "apod-1", "apod-4", "apod-2", "apod-0", "apod-2", "apod-4", "apod-4"}));
}

}  // namespace
}  // namespace ringlb::ring
