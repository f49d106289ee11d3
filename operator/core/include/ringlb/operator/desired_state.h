#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/operator/resource_source.h"

namespace ringlb::op {

/// Invalid documents that do not name a ring are keyed "file:<path>" by the
/// FileSource; any such error makes the operator keep replicas it cannot
/// attribute, rather than garbage-collect them.
inline constexpr std::string_view kUnnamedResourcePrefix = "file:";

/// The desired HashRings as the resource source reported them: the last good
/// spec of every ring, the current error of every invalid one, and which
/// rings were deleted. An Invalid event never replaces a good spec. Not
/// thread-safe; the controller locks.
class DesiredState {
 public:
  /// Applies one source event. Returns true when the desired spec, the error
  /// or the deletion of `event.key` changed.
  bool apply(const ResourceEvent& event);

  /// The last good spec of `key`, or nullptr.
  const HashRing* desired(const std::string& key) const;

  /// The current error of `key`, if its resource is invalid.
  std::optional<std::string> error(const std::string& key) const;

  /// The metadata of `key` while its resource is invalid and was never
  /// valid, when the source could read it (its status is written with it).
  const ObjectMeta* invalidMetadata(const std::string& key) const;

  /// Every current error by key, sorted.
  const std::map<std::string, std::string>& errors() const { return errors_; }

  /// Whether the source said `key` was deleted (and nothing since).
  bool deleted(const std::string& key) const { return deleted_.count(key) != 0; }

  /// Whether a ring with no desired spec may be torn down: it was deleted, or
  /// the source never mentioned it and no resource is in error (an invalid
  /// file might be the one that defines it).
  bool mayTearDown(const std::string& key) const;

  /// Keys with a spec, an error or a pending deletion.
  std::set<std::string> keys() const;

  /// Forgets a deleted key once its teardown is complete.
  void forget(const std::string& key) { deleted_.erase(key); }

 private:
  std::map<std::string, HashRing> desired_;
  std::map<std::string, std::string> errors_;
  std::map<std::string, ObjectMeta> invalidMetadata_;
  std::set<std::string> deleted_;
};

}  // namespace ringlb::op
