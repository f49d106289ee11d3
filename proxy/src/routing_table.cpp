#include "routing_table.h"

#include <netdb.h>
#include <sys/socket.h>

#include "ringlb/proxy/config.h"

namespace ringlb::proxy {

namespace asio = boost::asio;

std::optional<asio::ip::tcp::endpoint> resolveAddress(const std::string& address) {
  auto hostPort = parseHostPort(address);
  if (!hostPort) return std::nullopt;
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(hostPort->host, ec);
  if (!ec) return asio::ip::tcp::endpoint(ip, hostPort->port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (::getaddrinfo(hostPort->host.c_str(), nullptr, &hints, &result) != 0 || result == nullptr) return std::nullopt;
  std::optional<asio::ip::tcp::endpoint> endpoint;
  for (auto* ai = result; ai != nullptr && !endpoint; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(ai->ai_addr);
      endpoint = asio::ip::tcp::endpoint(asio::ip::address_v4(ntohl(in->sin_addr.s_addr)), hostPort->port);
    } else if (ai->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr);
      asio::ip::address_v6::bytes_type bytes;
      std::copy(std::begin(in6->sin6_addr.s6_addr), std::end(in6->sin6_addr.s6_addr), bytes.begin());
      endpoint = asio::ip::tcp::endpoint(asio::ip::address_v6(bytes), hostPort->port);
    }
  }
  ::freeaddrinfo(result);
  return endpoint;
}

Result<std::shared_ptr<RoutingTable>> buildRoutingTable(ring::RingSpec spec, const std::optional<ring::KeySpec>& keyOverride,
                                                        HealthRegistry& health, std::string source) {
  for (std::size_t i = 0; i < spec.members.size(); ++i) {
    auto hostPort = parseHostPort(spec.members[i].address);
    if (!hostPort || hostPort->port == 0) {
      return Error{"members[" + std::to_string(i) + "].address: must be HOST:PORT (got '" + spec.members[i].address + "')"};
    }
  }
  auto snapshot = ring::RingSnapshot::build(std::move(spec));
  if (!snapshot) return Error{snapshot.error()};
  auto table = std::make_shared<RoutingTable>();
  table->ring = std::move(snapshot).value();
  table->key = keyOverride ? *keyOverride : table->ring->spec().key;
  table->h2c = table->ring->spec().protocol == ring::UpstreamProtocol::H2c;
  if (table->ring->spec().loadFactor > 0) table->bounded.emplace(table->ring->spec().loadFactor);
  table->source = std::move(source);
  table->routes.reserve(table->ring->members().size());
  for (const auto& member : table->ring->members()) {
    table->routes.push_back({member.id, member.address, resolveAddress(member.address), health.get(member.id)});
  }
  return table;
}

}  // namespace ringlb::proxy
