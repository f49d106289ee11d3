#pragma once

#include <functional>

#include <boost/beast/_experimental/test/stream.hpp>

#include "asio_types.h"
#include "upstream.h"

namespace ringlb::proxy {

/// The transport of the unit tests: beast::test::stream on both sides, so a
/// fail_count can make any operation of a session fail.
struct TestNet {
  using Stream = boost::beast::test::stream;
  static constexpr bool kCanWaitReadable = false;
  static constexpr bool kTls = false;
  enum class Peek { Ready, WouldBlock, Closed };

  static Peek peek(Stream&) noexcept { return Peek::Ready; }
  static void setNonBlocking(Stream&) noexcept {}

  /// Connects `stream` for `group`; the test decides how (or fails it).
  std::function<error_code(Stream&, const UpstreamGroup<TestNet>&)> connector;

  Task<error_code> connect(Stream& stream, const UpstreamGroup<TestNet>& group) { co_return connector(stream, group); }

  static void abort(Stream& stream) noexcept { stream.close(); }
  static void shutdownSend(Stream&) noexcept {}
  static void close(Stream& stream) noexcept { stream.close(); }
};

}  // namespace ringlb::proxy
