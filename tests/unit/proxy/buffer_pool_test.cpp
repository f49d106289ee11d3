// The per-worker buffer pool: reuse, and which buffers a trim unmaps.
#include "buffer_pool.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace ringlb::proxy {
namespace {

constexpr std::size_t kReserve = 2;

BufferPool smallPool() { return BufferPool(4096, 1024, 8, kReserve); }

// Takes `count` buffers and gives them back: the pool then holds that many free ones.
void burst(BufferPool& pool, std::size_t count) {
  std::vector<std::unique_ptr<IoBuffer>> held;
  for (std::size_t i = 0; i < count; ++i) held.push_back(pool.acquire());
  for (auto& buffer : held) pool.release(std::move(buffer));
}

TEST(BufferPool, ReleasedBuffersAreReused) {
  auto pool = smallPool();
  auto first = pool.acquire();
  IoBuffer* address = first.get();
  pool.release(std::move(first));
  EXPECT_EQ(pool.freeCount(), 1u);
  EXPECT_EQ(pool.acquire().get(), address);
}

TEST(BufferPool, ABurstIsUnmappedOnceUnusedThroughTheWholeWindow) {
  auto pool = smallPool();
  burst(pool, 20);
  pool.trim();  // the tick of the burst: all 20 were in use
  // Unused since the burst, but the window still remembers the tick they were in use.
  for (std::size_t i = 0; i + 1 < BufferPool::kTrimWindow; ++i) {
    pool.trim();
    EXPECT_EQ(pool.freeCount(), 20u) << "trim " << i;
  }
  pool.trim();
  EXPECT_EQ(pool.freeCount(), kReserve);
  // Nothing more goes on later trims: the window's counts dropped with the unmapped buffers.
  for (std::size_t i = 0; i < 2 * BufferPool::kTrimWindow; ++i) pool.trim();
  EXPECT_EQ(pool.freeCount(), kReserve);
}

TEST(BufferPool, ALoadThatSwingsWithinTheWindowKeepsItsBuffers) {
  auto pool = smallPool();
  burst(pool, 20);
  // Every other tick all 20 are in use again: the window's low mark stays at zero.
  for (std::size_t tick = 0; tick < 4 * BufferPool::kTrimWindow; ++tick) {
    if (tick % 2 == 0) burst(pool, 20);
    pool.trim();
    EXPECT_EQ(pool.freeCount(), 20u) << "tick " << tick;
  }
}

TEST(BufferPool, OnlyTheBuffersUnusedThroughTheWindowGo) {
  auto pool = smallPool();
  burst(pool, 20);
  // Each tick 5 of the 20 are in use at once: 15 stayed free all along.
  for (std::size_t tick = 0; tick < BufferPool::kTrimWindow + 1; ++tick) {
    burst(pool, 5);
    pool.trim();
  }
  EXPECT_EQ(pool.freeCount(), 5u + kReserve);
}

}  // namespace
}  // namespace ringlb::proxy
