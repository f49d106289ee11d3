#pragma once

#include <cerrno>
#include <sys/socket.h>

#include "asio_types.h"
#include "drain_aware_socket.h"
#include "upstream.h"

namespace ringlb::proxy {

/// The transport of the real proxy: TCP sockets. Sessions are templates over
/// a transport so the unit tests can run them on beast::test::stream.
struct TcpNet {
  using Stream = DrainAwareSocket;

  /// Whether a stream can be waited on without a buffer (async_wait).
  static constexpr bool kCanWaitReadable = true;
  /// Whether the stream is TLS (a handshake first, close_notify last).
  static constexpr bool kTls = false;

  enum class Peek { Ready, WouldBlock, Closed };

  /// Non-blocking look at the receive queue without consuming it.
  static Peek peek(Stream& stream) noexcept {
    char byte = 0;
    const auto n = ::recv(stream.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return Peek::Ready;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Peek::WouldBlock;
    return Peek::Closed;
  }

  /// Whether bytes are buffered above the socket, readable without waiting on it (never, for TCP).
  static constexpr bool hasBuffered(const Stream&) noexcept { return false; }
  /// The socket under the stream, to wait on for readability.
  static Stream& socket(Stream& stream) noexcept { return stream; }

  /// Makes synchronous reads and writes return would_block instead of blocking.
  static void setNonBlocking(Stream& stream) noexcept {
    error_code ignored;
    stream.non_blocking(true, ignored);
  }

  /// Connects to the group's resolved endpoint with TCP_NODELAY.
  Task<error_code> connect(Stream& stream, const UpstreamGroup<TcpNet>& group) {
    error_code ec;
    if (!group.endpoint) co_return asio::error::host_not_found;
    stream.open(group.endpoint->protocol(), ec);
    if (ec) co_return ec;
    co_await stream.async_connect(*group.endpoint, noThrow(ec));
    if (!ec) stream.set_option(asio::ip::tcp::no_delay(true), ec);
    if (!ec) stream.non_blocking(true, ec);
    co_return ec;
  }

  /// Aborts pending operations (deadline passed); they complete with operation_aborted.
  static void abort(Stream& stream) noexcept {
    error_code ignored;
    stream.cancel(ignored);
  }
  /// Gives up Asio's hold on the stream's descriptor (its reactor
  /// registration) and returns the descriptor, or -1 on failure (the stream then still owns it).
  static int release(Stream& stream) noexcept {
    error_code ec;
    const int fd = stream.release(ec);
    return ec ? -1 : fd;
  }
  static void shutdownSend(Stream& stream) noexcept {
    error_code ignored;
    stream.shutdown(asio::socket_base::shutdown_send, ignored);
  }
  static void close(Stream& stream) noexcept {
    error_code ignored;
    stream.close(ignored);
  }
};

}  // namespace ringlb::proxy
