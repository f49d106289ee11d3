#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <string>

#include <boost/asio/awaitable.hpp>

#include "ringlb/base/result.h"

namespace ringlb::apod {

/// What the upstream answered.
struct UpstreamResponse {
  unsigned status = 0;
  std::string body;
};

/// Fetches from the upstream API. The interface lets the forwarding logic be tested with a
/// fake and no sockets.
class UpstreamFetcher {
 public:
  virtual ~UpstreamFetcher() = default;

  /// GETs `pathAndQuery` from the upstream. Returns its response (any status), or an Error
  /// naming the step that failed (resolve, connect, tls, write, read, timeout). Never throws;
  /// may be called concurrently from several threads.
  virtual boost::asio::awaitable<Result<UpstreamResponse>> get(std::string pathAndQuery) = 0;
};

}  // namespace ringlb::apod
