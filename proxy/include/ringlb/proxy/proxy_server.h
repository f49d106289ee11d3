#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "ringlb/proxy/config.h"

namespace ringlb::proxy {

/// The whole proxy: ring source, workers, admin listener, signal handling
/// and drain. main() builds one from a validated config and runs it.
class ProxyServer {
 public:
  explicit ProxyServer(ProxyConfig config);
  ~ProxyServer();

  /// Binds the listeners (failing fast with a message naming the address),
  /// starts everything (a ring-following proxy listens for clients once its
  /// first ring arrived, or after --initial-ring-wait) and blocks until
  /// SIGTERM/SIGINT. Then /readyz fails,
  /// accepting stops, in-flight requests get up to the drain timeout, and it
  /// returns 0. Returns 2 when startup fails.
  int run();

 private:
  ProxyConfig config_;
};

}  // namespace ringlb::proxy
