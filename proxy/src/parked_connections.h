#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>

#include "asio_types.h"

namespace ringlb::proxy {

/// A client's address in 17 bytes rather than its 46-character text.
struct ClientAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool v6 = false;

  /// Parses dotted IPv4 or IPv6 text; an unparsable text gives 0.0.0.0.
  static ClientAddress parse(std::string_view text) noexcept;
  /// Writes the address as text into `out` and returns its length.
  std::size_t format(std::array<char, 46>& out) const noexcept;
};

/// The idle plaintext keep-alive client connections of one worker, each held
/// as a compact record (its descriptor, address and idle deadline) rather than
/// a session, an Asio socket and a pending wait. Every parked descriptor is
/// registered (one-shot) in one epoll instance the worker owns, on which Asio
/// waits once for all of them. A readable connection is handed back to `Wake`,
/// which rebuilds its session. Records are kept in parking order, which is
/// idle-deadline order up to a tick, so the watchdog closes expired ones
/// from the front without walking the rest.
///
/// Counts its connections in `open` (the proxy's open connections, so a
/// connection moving between a session and a record stays counted once) and
/// in `parked`.
/// Single-threaded: lives on its worker's io_context.
class ParkedConnections {
 public:
  /// Takes back a parked connection that became readable (data, or the
  /// client's close): `fd` is the caller's again, with its address and the
  /// idle deadline (monotonic coarse nanoseconds) it was parked with.
  using Wake = std::function<void(int fd, const ClientAddress& address, std::int64_t deadline)>;

  /// Throws std::system_error if the epoll instance cannot be created.
  ParkedConnections(asio::io_context& ioc, std::atomic<std::int64_t>& open, std::atomic<std::int64_t>& parked, Wake wake);
  /// Closes every parked connection.
  ~ParkedConnections();
  ParkedConnections(const ParkedConnections&) = delete;
  ParkedConnections& operator=(const ParkedConnections&) = delete;

  /// Takes ownership of `fd` (a connected, non-blocking socket no one else
  /// waits on) until it becomes readable, expires or is closed. Bytes that
  /// arrived before the call wake it at once. On failure (the epoll
  /// registration) the connection is closed and the error returned.
  error_code park(int fd, const ClientAddress& address, std::int64_t deadline) noexcept;
  /// Closes the parked connections whose deadline is at or before `nowNanos`;
  /// returns how many.
  std::size_t closeExpired(std::int64_t nowNanos) noexcept;
  /// Closes every parked connection (drain).
  void closeAll() noexcept;
  std::size_t size() const noexcept { return count_; }

 private:
  static constexpr std::int32_t kNone = -1;
  struct Record {
    std::int64_t deadline = 0;
    ClientAddress address;
    bool parked = false;
    std::int32_t prev = kNone;  // parking order, by descriptor
    std::int32_t next = kNone;
  };

  void unlink(int fd) noexcept;
  void close(int fd) noexcept;
  void awaitReadable();
  void wakeReadable();

  using Descriptor = asio::posix::basic_stream_descriptor<Executor>;
  Descriptor epoll_;
  std::atomic<std::int64_t>& open_;
  std::atomic<std::int64_t>& parked_;
  Wake wake_;
  std::vector<Record> records_;  // indexed by descriptor: descriptors are small and dense
  std::int32_t head_ = kNone;    // parked longest
  std::int32_t tail_ = kNone;
  std::size_t count_ = 0;
};

}  // namespace ringlb::proxy
