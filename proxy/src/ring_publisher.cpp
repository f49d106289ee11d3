#include "ring_publisher.h"

#include <spdlog/spdlog.h>

#include "ringlb/ring/wire_format.h"

namespace ringlb::proxy {

RingPublisher::RingPublisher(RingStore& store, HealthRegistry& health, std::optional<ring::KeySpec> keyOverride)
    : store_(store), health_(health), keyOverride_(std::move(keyOverride)) {}

Status RingPublisher::apply(ring::RingSpec spec, const std::string& source) {
  auto table = buildRoutingTable(std::move(spec), keyOverride_, health_, source);
  if (!table) {
    store_.countRejected();
    spdlog::error("ring from {} refused, keeping the previous one: {}", source, table.error());
    return Error{table.error()};
  }
  const auto previous = store_.current();
  const auto& next = *table.value();
  for (std::size_t i = 0; i < next.routes.size(); ++i) {
    if (!next.ring->isReady(static_cast<std::uint32_t>(i))) continue;
    bool wasReady = false;
    if (previous) {
      if (const auto index = previous->ring->indexOf(next.routes[i].id)) wasReady = previous->ring->isReady(*index);
    }
    if (!wasReady) next.routes[i].health->clearEjection();
  }
  for (std::size_t i = 0; i < next.routes.size(); ++i) {
    if (!next.routes[i].endpoint) {
      spdlog::warn("ring member {} address {} does not resolve; requests to it fail over", next.routes[i].id,
                   next.routes[i].address);
    }
  }
  const auto version = next.ring->version();
  const auto members = next.ring->members().size();
  const auto ready = next.ring->readyCount();
  store_.publish(std::move(table).value());
  store_.countApplied();
  spdlog::info("ring {} version {} applied from {}: {} members, {} Ready", next.ring->spec().name, version, source,
               members, ready);
  return ok();
}

Status RingPublisher::applyJson(std::string_view text, const std::string& source) {
  auto spec = ring::parseRingJson(text);
  if (!spec) {
    store_.countRejected();
    spdlog::error("ring from {} refused, keeping the previous one: {}", source, spec.error());
    return Error{spec.error()};
  }
  return apply(std::move(spec).value(), source);
}

}  // namespace ringlb::proxy
