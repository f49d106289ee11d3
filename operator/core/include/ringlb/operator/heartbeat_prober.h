#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "ringlb/base/result.h"
#include "ringlb/operator/hash_ring.h"

namespace ringlb::op {

/// One replica to probe.
struct ProbeTarget {
  std::string ringKey;
  std::string ring;  // ring name, for metric labels
  std::string slot;
  std::string runtimeId;  // results carry it, so stale ones are recognised
  std::string address;    // host:port
  HealthCheck check;
  bool starting = false;  // probed every `startingInterval` until first Ready
  ring::UpstreamProtocol protocol = ring::UpstreamProtocol::Http1;  // the ring's: how the replica is spoken to
  friend bool operator==(const ProbeTarget&, const ProbeTarget&) = default;
};

struct ProbeResult {
  std::string ringKey;
  std::string ring;
  std::string slot;
  std::string runtimeId;
  bool success = false;
  std::string detail;  // "HTTP 200", "HTTP/2 503", "gRPC NOT_SERVING", "connect: Connection refused", "timed out after 1s"
};

/// Probes every target every `intervalSeconds`, one connection per probe,
/// each bounded by `timeoutSeconds`, in the target's protocol: a GET of
/// `healthCheck.path` over HTTP/1.1 or, for h2c, over HTTP/2 with prior
/// knowledge (2xx and 3xx pass, as in Kubernetes); with `healthCheck.grpc`
/// a grpc.health.v1.Health/Check call that passes only on grpc-status 0 and
/// SERVING, as Kubernetes' grpc probe. Runs as C++20 coroutines on the
/// given io_context; results are delivered on it.
class HeartbeatProber {
 public:
  using ResultHandler = std::function<void(const ProbeResult&)>;

  HeartbeatProber(boost::asio::io_context& io, ResultHandler onResult,
                  std::chrono::milliseconds startingInterval = std::chrono::milliseconds(250));
  ~HeartbeatProber();

  /// Replaces the targets of ring `ringKey` (empty: stop probing it). A
  /// target whose runtimeId, address, check and protocol are unchanged keeps its schedule.
  /// Thread-safe (posts to the io_context).
  void setTargets(const std::string& ringKey, std::vector<ProbeTarget> targets);

  /// Stops every probe loop. Thread-safe.
  void stop();

 private:
  struct Loop;
  void apply(const std::string& ringKey, std::vector<ProbeTarget> targets);  // io thread

  boost::asio::io_context& io_;
  ResultHandler onResult_;
  std::chrono::milliseconds startingInterval_;
  std::map<std::string, std::map<std::string, std::shared_ptr<Loop>>> loops_;  // ringKey → slot → loop; io thread
};

struct HostPort {
  std::string host;  // without the brackets of an IPv6 literal
  std::string port;
};

/// Splits "host:port" / "[v6]:port"; an Invalid Error naming the address when malformed.
Result<HostPort> splitHostPort(const std::string& address);

}  // namespace ringlb::op
