#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>

#include "asio_types.h"
#include "ringlb/proxy/config.h"
#include "ring_publisher.h"

namespace ringlb::proxy {

/// Follows the operator (--ring-url): on each connection a plain GET (so a
/// restarted operator whose versions went back is still followed), then
/// long-polls `?watch=<known>&timeoutSeconds=N` on the same keep-alive
/// connection. A new ring is applied as soon as its response arrives. When
/// the operator is unreachable the last ring keeps routing and the watcher
/// reconnects with capped, jittered exponential backoff; the store's
/// staleness grows until a response confirms the ring again. Runs on the
/// control io_context.
class RingUrlWatcher {
 public:
  RingUrlWatcher(asio::io_context& ioc, RingPublisher& publisher, RingStore& store, HttpUrl url,
                 std::chrono::milliseconds watchTimeout, std::chrono::milliseconds backoffMax);

  void start();
  void stop();

 private:
  Task<void> loop();
  Task<bool> session(TcpSocket& socket);  // false: back off before reconnecting
  std::chrono::milliseconds nextBackoff();

  asio::io_context& ioc_;
  RingPublisher& publisher_;
  RingStore& store_;
  HttpUrl url_;
  std::chrono::milliseconds watchTimeout_;
  std::chrono::milliseconds backoffMax_;
  std::chrono::milliseconds backoff_{0};
  std::uint64_t known_ = 0;
  bool stopped_ = false;
  bool connectedBefore_ = false;
  std::optional<TcpSocket> socket_;
  std::optional<SteadyTimer> timer_;
  std::minstd_rand rng_{std::random_device{}()};
};

}  // namespace ringlb::proxy
