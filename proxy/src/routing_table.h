#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "health_registry.h"
#include "ringlb/ring/bounded_load.h"
#include "ringlb/base/result.h"
#include "ringlb/ring/ring_snapshot.h"

namespace ringlb::proxy {

/// How to reach one ring member.
struct MemberRoute {
  std::string id;
  std::string address;
  std::optional<boost::asio::ip::tcp::endpoint> endpoint;  // nullopt: the address did not resolve
  std::shared_ptr<MemberHealth> health;
};

/// Everything the request path needs from a ring, built once off the hot
/// path and shared immutably between worker threads.
struct RoutingTable {
  std::shared_ptr<const ring::RingSnapshot> ring;
  ring::KeySpec key;                    // effective key source (--key wins over the ring's)
  bool h2c = false;                     // members are spoken to in HTTP/2 with prior knowledge
  std::vector<MemberRoute> routes;      // indexed like ring->members()
  std::optional<ring::BoundedLoadPolicy> bounded;  // when the ring's loadFactor > 0
  std::string source;                   // "static", "file:PATH", "url:URL"
  std::uint64_t generation = 0;         // set by RingStore::publish
};

/// Validates `spec`, builds the snapshot, resolves member addresses
/// (numeric addresses directly, names through the system resolver) and
/// attaches health records. Returns an Error naming the bad field.
/// Blocking (DNS); call off the workers' threads.
Result<std::shared_ptr<RoutingTable>> buildRoutingTable(ring::RingSpec spec, const std::optional<ring::KeySpec>& keyOverride,
                                                        HealthRegistry& health, std::string source);

/// Resolves host:port to one TCP endpoint, or nullopt. Blocking.
std::optional<boost::asio::ip::tcp::endpoint> resolveAddress(const std::string& address);

}  // namespace ringlb::proxy
