#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "ringlb/operator/heartbeat_prober.h"

namespace ringlb::op {

/// What one probe concluded: pass or fail, and why ("HTTP/2 200", "gRPC NOT_SERVING").
struct ProbeVerdict {
  bool success = false;
  std::string detail;
};

/// One heartbeat over HTTP/2 with prior knowledge on a connected stream (an
/// nghttp2 client session, one stream): a GET of `check.path`, passing on
/// 2xx/3xx; or with `check.grpc` a grpc.health.v1.Health/Check call, passing
/// only on grpc-status 0 and SERVING. Bounded by the stream's deadline,
/// which the caller sets; a timeout is reported as beast::error::timeout's
/// verdict "timed out after Ns". Runs on the stream's executor.
boost::asio::awaitable<ProbeVerdict> probeOverH2c(boost::beast::tcp_stream& stream, const ProbeTarget& target);

}  // namespace ringlb::op
