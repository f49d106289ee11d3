#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "ringlb/proxy/http_message.h"

namespace ringlb::proxy {

/// A request's working memory: the byte buffer of one direction, a scratch
/// area for added header lines and the head's field index. Pooled per worker
/// and held only while a request is active, so idle connections cost none.
class IoBuffer {
 public:
  IoBuffer(std::size_t capacity, std::size_t auxCapacity, std::size_t maxFields);

  char* data() noexcept { return data_.get(); }
  std::size_t capacity() const noexcept { return capacity_; }
  std::span<char> aux() noexcept { return {aux_.get(), auxCapacity_}; }
  std::span<HeaderField> fields() noexcept { return fields_; }
  std::span<std::string_view> connectionTokens() noexcept { return tokens_; }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::unique_ptr<char[]> aux_;
  std::size_t auxCapacity_;
  std::vector<HeaderField> fields_;
  std::vector<std::string_view> tokens_;
};

/// Per-worker free list of IoBuffers; single-threaded. Keeps at most
/// `maxFree` buffers and frees the rest, so a burst does not pin memory.
class BufferPool {
 public:
  BufferPool(std::size_t capacity, std::size_t auxCapacity, std::size_t maxFields, std::size_t maxFree = 64);

  /// A buffer (reused or new). Never null.
  std::unique_ptr<IoBuffer> acquire();
  /// Returns a buffer to the pool (or frees it).
  void release(std::unique_ptr<IoBuffer> buffer) noexcept;

  std::size_t freeCount() const noexcept { return free_.size(); }

 private:
  std::size_t capacity_;
  std::size_t auxCapacity_;
  std::size_t maxFields_;
  std::size_t maxFree_;
  std::vector<std::unique_ptr<IoBuffer>> free_;
};

}  // namespace ringlb::proxy
