#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "health_registry.h"
#include "ring_store.h"
#include "ringlb/base/result.h"
#include "ringlb/ring/ring_spec.h"

namespace ringlb::proxy {

/// Turns ring specs from any source into published routing tables. A bad
/// ring is refused (counted as rejected, logged with the field at fault) and
/// the previous one stays in force. A member the new ring reports Ready after
/// it was not is cleared of any local ejection: the operator's heartbeat is
/// the authority. Called from the control thread only.
class RingPublisher {
 public:
  RingPublisher(RingStore& store, HealthRegistry& health, std::optional<ring::KeySpec> keyOverride);

  /// Validates, builds and publishes `spec`. Returns the error instead when invalid.
  Status apply(ring::RingSpec spec, const std::string& source);
  /// Parses wire-format JSON and applies it.
  Status applyJson(std::string_view text, const std::string& source);

 private:
  RingStore& store_;
  HealthRegistry& health_;
  std::optional<ring::KeySpec> keyOverride_;
};

}  // namespace ringlb::proxy
