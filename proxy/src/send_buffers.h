#pragma once

#include <algorithm>
#include <array>
#include <cstddef>

#include "asio_types.h"

namespace ringlb::proxy {

/// A message as it leaves: head, added fields, and the body bytes that follow
/// them in the buffer. Sent with one gathered write.
using SendBuffers = std::array<asio::const_buffer, 3>;

inline std::size_t totalSize(const SendBuffers& buffers) noexcept {
  return buffers[0].size() + buffers[1].size() + buffers[2].size();
}

/// The buffers after their first `n` bytes.
inline SendBuffers advance(SendBuffers buffers, std::size_t n) noexcept {
  for (auto& buffer : buffers) {
    const auto step = std::min(n, buffer.size());
    buffer += step;
    n -= step;
  }
  return buffers;
}

/// One non-blocking send of as much as the socket takes now: the common case
/// sends a whole head (and small body) without a trip through the scheduler.
/// Returns the bytes sent; a full socket is not an error.
template <class Stream>
std::size_t sendNow(Stream& stream, const SendBuffers& buffers, error_code& ec) {
  const auto n = stream.write_some(buffers, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    ec = {};
    return 0;
  }
  return n;
}

}  // namespace ringlb::proxy
