#include "buffer_pool.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <new>

namespace ringlb::proxy {

namespace {
constexpr std::size_t kMaxConnectionTokens = 32;
}

IoBuffer::IoBuffer(std::size_t capacity, std::size_t auxCapacity, std::size_t maxFields) : capacity_(capacity) {
  const std::size_t fieldBytes = maxFields * sizeof(HeaderField);
  const std::size_t tokenOffset = (fieldBytes + alignof(std::string_view) - 1) / alignof(std::string_view) * alignof(std::string_view);
  const std::size_t auxOffset = tokenOffset + kMaxConnectionTokens * sizeof(std::string_view);
  const std::size_t dataOffset = auxOffset + auxCapacity;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  mappingSize_ = (dataOffset + capacity + page - 1) / page * page;
  mapping_ = ::mmap(nullptr, mappingSize_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping_ == MAP_FAILED) throw std::bad_alloc();
  auto* base = static_cast<char*>(mapping_);
  fields_ = {reinterpret_cast<HeaderField*>(base), maxFields};
  tokens_ = {reinterpret_cast<std::string_view*>(base + tokenOffset), kMaxConnectionTokens};
  aux_ = {base + auxOffset, auxCapacity};
  data_ = base + dataOffset;
}

IoBuffer::~IoBuffer() { ::munmap(mapping_, mappingSize_); }

BufferPool::BufferPool(std::size_t capacity, std::size_t auxCapacity, std::size_t maxFields, std::size_t reserve)
    : capacity_(capacity), auxCapacity_(auxCapacity), maxFields_(maxFields), reserve_(reserve) {}

std::unique_ptr<IoBuffer> BufferPool::acquire() {
  if (free_.empty()) return std::make_unique<IoBuffer>(capacity_, auxCapacity_, maxFields_);
  auto buffer = std::move(free_.back());
  free_.pop_back();
  lowWater_ = std::min(lowWater_, free_.size());
  return buffer;
}

void BufferPool::release(std::unique_ptr<IoBuffer> buffer) noexcept {
  if (!buffer) return;
  try {
    free_.push_back(std::move(buffer));
  } catch (const std::bad_alloc&) {
    // The list could not grow: the buffer is simply unmapped.
  }
}

void BufferPool::trim() noexcept {
  recentLowWaters_[nextLowWater_] = lowWater_;
  nextLowWater_ = (nextLowWater_ + 1) % kTrimWindow;
  const std::size_t unusedThroughWindow = *std::min_element(recentLowWaters_.begin(), recentLowWaters_.end());
  std::size_t surplus = unusedThroughWindow > reserve_ ? unusedThroughWindow - reserve_ : 0;
  surplus = std::min(surplus, free_.size());
  // The buffers freed now were counted as unused in every recorded trim.
  for (auto& low : recentLowWaters_) low -= std::min(low, surplus);
  // The oldest entries sit at the front; the hot ones (reused LIFO) stay.
  free_.erase(free_.begin(), free_.begin() + static_cast<std::ptrdiff_t>(surplus));
  lowWater_ = free_.size();
}

}  // namespace ringlb::proxy
