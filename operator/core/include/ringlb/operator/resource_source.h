#pragma once

#include <functional>
#include <optional>
#include <string>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/base/result.h"

namespace ringlb::op {

/// A change in the desired HashRings.
struct ResourceEvent {
  enum class Kind : std::uint8_t {
    Upserted,  // `ring` holds the new desired state
    Deleted,   // the resource is gone: stop its replicas
    Invalid,   // the resource failed to parse or validate: keep the last good state
  };
  Kind kind = Kind::Upserted;
  std::string key;  // "namespace/name"
  std::optional<HashRing> ring;
  std::string error;  // Invalid: names the file or object, the field and the reason
  std::optional<ObjectMeta> invalidMetadata = {};  // Invalid: the object's metadata when it could be read (for its status)
};

/// Yields desired HashRings (a YAML file or directory, or the Kubernetes API)
/// and takes status writes.
class ResourceSource {
 public:
  using EventHandler = std::function<void(const ResourceEvent&)>;

  virtual ~ResourceSource() = default;

  /// Starts watching; the handler first receives every current resource, then
  /// each change. It runs on a source-owned thread and must not block.
  virtual void start(EventHandler handler) = 0;

  /// Stops watching; no handler call happens after it returns.
  virtual void stop() = 0;

  /// Records the observed status of `ring` (a no-op for files, a status
  /// subresource patch in Kubernetes). Writes that change nothing are skipped.
  virtual Status writeStatus(const HashRing& ring, const HashRingStatus& status) = 0;
};

}  // namespace ringlb::op
