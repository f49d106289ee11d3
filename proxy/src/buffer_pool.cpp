#include "ringlb/proxy/buffer_pool.h"

namespace ringlb::proxy {

namespace {
constexpr std::size_t kMaxConnectionTokens = 32;
}

IoBuffer::IoBuffer(std::size_t capacity, std::size_t auxCapacity, std::size_t maxFields)
    : data_(new char[capacity]),
      capacity_(capacity),
      aux_(new char[auxCapacity]),
      auxCapacity_(auxCapacity),
      fields_(maxFields),
      tokens_(kMaxConnectionTokens) {}

BufferPool::BufferPool(std::size_t capacity, std::size_t auxCapacity, std::size_t maxFields, std::size_t maxFree)
    : capacity_(capacity), auxCapacity_(auxCapacity), maxFields_(maxFields), maxFree_(maxFree) {
  free_.reserve(maxFree_);
}

std::unique_ptr<IoBuffer> BufferPool::acquire() {
  if (free_.empty()) return std::make_unique<IoBuffer>(capacity_, auxCapacity_, maxFields_);
  auto buffer = std::move(free_.back());
  free_.pop_back();
  return buffer;
}

void BufferPool::release(std::unique_ptr<IoBuffer> buffer) noexcept {
  if (buffer && free_.size() < maxFree_) free_.push_back(std::move(buffer));
}

}  // namespace ringlb::proxy
