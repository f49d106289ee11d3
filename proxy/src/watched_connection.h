#pragma once

#include <cstdint>

namespace ringlb::proxy {

/// What the worker's watchdog sees of a client connection, whatever its
/// stream (plaintext or TLS): the worker keeps one intrusive list of them.
/// The watchdog's calls are virtual, once per connection and tick; the
/// connection's reads and writes never go through this. Single-threaded:
/// lives on its worker's io_context.
class WatchedConnection {
 public:
  /// The deadline passed; aborts the pending I/O so the connection sees it.
  virtual void expire() noexcept = 0;
  /// Parks the connection if it has waited idle since tick `beforeTick`.
  virtual void parkIfIdleSince(std::uint64_t beforeTick) noexcept = 0;
  /// Drain: closes the connection now if it waits for a next request.
  virtual void closeIfIdle() noexcept = 0;
  /// Monotonic (coarse) nanoseconds at which the current phase times out; 0 for none.
  virtual std::int64_t deadline() const noexcept = 0;

  WatchedConnection* prev = nullptr;  // the worker's intrusive list
  WatchedConnection* next = nullptr;

 protected:
  WatchedConnection() = default;
  ~WatchedConnection() = default;
};

}  // namespace ringlb::proxy
