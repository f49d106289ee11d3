#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ringlb/base/result.h"
#include "ringlb/ring/ring_snapshot.h"
#include "ringlb/ring/ring_spec.h"

namespace ringlb::op {

/// One published ring version, for the status page and the metrics.
struct RingChange {
  std::uint64_t version = 0;
  std::int64_t unixMillis = 0;
  double movedKeyspace = 0;  // fraction of the hash space whose owner (by id) changed
  std::string summary;       // what changed: "+apod-3 (NotReady)", "apod-1 Ready→NotReady", ...
};

/// The rings the operator publishes, by name. Each ring's version only ever
/// grows: it is persisted to `<stateDir>/rings/<name>.json` before it is
/// served, and survives removal, so a proxy never sees a version go back even
/// across operator restarts. Thread-safe.
class RingRegistry {
 public:
  using ChangeHandler = std::function<void(const std::string& name)>;

  /// `stateDir` empty: nothing is persisted (tests).
  explicit RingRegistry(std::filesystem::path stateDir);

  /// Loads the persisted rings, which are served again at once. Returns one
  /// message per unreadable file (skipped).
  std::vector<std::string> load();

  struct Published {
    bool changed = false;  // false: identical to the ring in force, nothing published
    std::uint64_t version = 0;
    double movedKeyspace = 0;
    std::string summary;
  };

  /// Publishes `spec` (its version is assigned here) unless it equals the ring
  /// in force apart from the version. Returns an Error when the spec is invalid
  /// or the version cannot be persisted (then nothing is published).
  Result<Published> publish(ring::RingSpec spec);

  /// Withdraws ring `name` (404 from then on); its version is kept.
  Status remove(const std::string& name);

  /// The ring in force, or nullptr.
  std::shared_ptr<const ring::RingSnapshot> get(const std::string& name) const;

  /// Every ring in force, sorted by name.
  std::vector<std::shared_ptr<const ring::RingSnapshot>> list() const;

  /// The last published changes of `name`, oldest first (at most 50).
  std::vector<RingChange> history(const std::string& name) const;

  /// Registers a handler called after every publish or removal, on the
  /// publishing thread, with no registry lock held. Call before publishing.
  void onChange(ChangeHandler handler);

 private:
  struct Entry {
    std::shared_ptr<const ring::RingSnapshot> ring;  // null once removed
    std::uint64_t lastVersion = 0;
    std::deque<RingChange> history;
  };

  Status persist(const std::string& name, const Entry& entry) const;
  std::vector<ChangeHandler> handlers() const;

  std::filesystem::path dir_;
  std::mutex writeMutex_;     // one publish or removal at a time (held across the disk write)
  mutable std::mutex mutex_;  // entries_ and handlers_; never held across the disk write
  std::map<std::string, Entry> entries_;
  std::vector<ChangeHandler> handlers_;
};

/// A one-line description of what differs between two rings.
std::string describeRingChange(const ring::RingSpec* before, const ring::RingSpec& after);

}  // namespace ringlb::op
