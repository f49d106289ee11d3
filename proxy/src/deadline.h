#pragma once

#include <chrono>
#include <cstdint>

#include "asio_types.h"
#include "coarse_clock.h"

namespace ringlb::proxy {

/// The one deadline of a connection's current phase, checked by the worker's
/// watchdog rather than by a timer per operation, and which pending I/O it
/// aborts when it passes: the client's, the upstream's, or both in a tunnel.
/// Single-threaded: lives on its worker's io_context.
template <class Net>
class Deadline {
 public:
  using Stream = typename Net::Stream;

  /// Starts a phase that must end within `timeout`.
  void set(std::chrono::milliseconds timeout) noexcept {
    at_ = coarseNanos() + std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
    if (cap_ != 0 && cap_ < at_) at_ = cap_;
    expired_ = false;
  }
  /// No phase may end after `at` (monotonic coarse nanos; 0 for no cap):
  /// the client's own deadline, such as gRPC's grpc-timeout.
  void capAt(std::int64_t at) noexcept { cap_ = at; }
  /// Starts a phase that must end at `at` (monotonic coarse nanos): one
  /// resumed with the deadline it had before (a parked connection).
  void setAt(std::int64_t at) noexcept {
    at_ = at;
    expired_ = false;
  }
  void clear() noexcept { at_ = 0; }
  /// Monotonic (coarse) nanoseconds at which the phase times out; 0 for none.
  std::int64_t at() const noexcept { return at_; }
  /// Whether the deadline passed since the phase began.
  bool expired() const noexcept { return expired_; }
  /// Turns an operation's result into timed_out if the deadline passed; also
  /// after a success, whose completion was queued while it passed.
  void check(error_code& ec) const noexcept {
    if (expired_) ec = asio::error::timed_out;
  }

  /// The next operation waits on the client.
  void waitOnClient() noexcept { waiting_ = Waiting::Client; }
  /// The next operation waits on the watched upstream stream.
  void waitOnUpstream() noexcept { waiting_ = Waiting::Upstream; }
  /// Operations wait on both streams (a tunnel).
  void waitOnBoth() noexcept { waiting_ = Waiting::Both; }
  /// The upstream stream of the current attempt, or null once it is gone.
  void watchUpstream(Stream* upstream) noexcept { upstream_ = upstream; }

  /// The watchdog saw the deadline pass: marks it expired and aborts only the
  /// stream with the pending operation; the other one may still carry a reply.
  /// `Client` is the client stream's policy (Net, or TLS's).
  template <class Client = Net>
  void expire(typename Client::Stream& client) noexcept {
    at_ = 0;
    expired_ = true;
    if (waiting_ != Waiting::Upstream) Client::abort(client);
    if (waiting_ != Waiting::Client && upstream_ != nullptr) Net::abort(*upstream_);
  }
  /// The same for a client side that is not a socket of its own (an HTTP/2
  /// stream): aborts the upstream if an operation waits on it. Returns
  /// whether an operation waits on the client, which the caller then wakes.
  bool expireStream() noexcept {
    at_ = 0;
    expired_ = true;
    if (waiting_ != Waiting::Client && upstream_ != nullptr) Net::abort(*upstream_);
    return waiting_ != Waiting::Upstream;
  }

 private:
  enum class Waiting : std::uint8_t { Client, Upstream, Both };

  std::int64_t at_ = 0;
  std::int64_t cap_ = 0;
  Stream* upstream_ = nullptr;
  Waiting waiting_ = Waiting::Client;
  bool expired_ = false;
};

}  // namespace ringlb::proxy
