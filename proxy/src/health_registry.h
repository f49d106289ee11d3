#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "member_health.h"

namespace ringlb::proxy {

/// Owns one MemberHealth per member id for the life of the process, so a
/// member keeps its health across ring versions. Lookups lock; they happen
/// when a ring is built, never per request.
class HealthRegistry {
 public:
  /// The health record for `id`, created on first use. Thread-safe.
  std::shared_ptr<MemberHealth> get(const std::string& id);

  /// Every record, by id. Thread-safe.
  std::vector<std::shared_ptr<MemberHealth>> all() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<MemberHealth>, std::less<>> members_;
};

}  // namespace ringlb::proxy
