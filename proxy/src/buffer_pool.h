#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "http_message.h"

namespace ringlb::proxy {

/// A request's working memory: the byte buffer of one direction, a scratch
/// area for added header lines and the head's field index. Pooled per worker
/// and held only while a request is active, so idle connections cost none.
/// One anonymous mapping laid out index-first, so a small request touches
/// two pages; unmapping it returns the memory to the system at once, which
/// keeps a burst of active connections from pinning RSS afterwards.
class IoBuffer {
 public:
  IoBuffer(std::size_t capacity, std::size_t auxCapacity, std::size_t maxFields);
  ~IoBuffer();
  IoBuffer(const IoBuffer&) = delete;
  IoBuffer& operator=(const IoBuffer&) = delete;

  char* data() noexcept { return data_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::span<char> aux() noexcept { return aux_; }
  std::span<HeaderField> fields() noexcept { return fields_; }
  std::span<std::string_view> connectionTokens() noexcept { return tokens_; }

 private:
  void* mapping_ = nullptr;
  std::size_t mappingSize_ = 0;
  std::span<HeaderField> fields_;
  std::span<std::string_view> tokens_;
  std::span<char> aux_;
  char* data_ = nullptr;
  std::size_t capacity_ = 0;
};

/// Per-worker free list of IoBuffers; single-threaded. Buffers come back to
/// the list after each request, so steady traffic maps nothing. `trim()`
/// (from the watchdog, every tick: at most 100 ms apart) unmaps the buffers
/// that stayed unused through the last `kTrimWindow` trims, beyond a small
/// reserve: a burst of active connections gives its memory back about half a
/// second after it ends, while a load that swings faster than that (many
/// connections parking and waking) keeps its buffers instead of unmapping
/// and mapping them again.
class BufferPool {
 public:
  BufferPool(std::size_t capacity, std::size_t auxCapacity, std::size_t maxFields, std::size_t reserve = 8);

  /// A buffer (reused or new). Never null.
  std::unique_ptr<IoBuffer> acquire();
  /// Returns a buffer to the pool.
  void release(std::unique_ptr<IoBuffer> buffer) noexcept;
  /// Frees the buffers no request needed through the last kTrimWindow trims (keeping `reserve`).
  void trim() noexcept;

  static constexpr std::size_t kTrimWindow = 5;

  std::size_t freeCount() const noexcept { return free_.size(); }

 private:
  std::size_t capacity_;
  std::size_t auxCapacity_;
  std::size_t maxFields_;
  std::size_t reserve_;
  std::size_t lowWater_ = 0;  // fewest free buffers since the last trim
  std::array<std::size_t, kTrimWindow> recentLowWaters_{};  // lowWater_ at each of the last trims
  std::size_t nextLowWater_ = 0;
  std::vector<std::unique_ptr<IoBuffer>> free_;
};

/// A buffer borrowed from a pool for as long as the lease lives (a request,
/// or one direction of a tunnel).
struct BufferLease {
  BufferPool& pool;
  std::unique_ptr<IoBuffer> buffer;
  ~BufferLease() { pool.release(std::move(buffer)); }
};

}  // namespace ringlb::proxy
