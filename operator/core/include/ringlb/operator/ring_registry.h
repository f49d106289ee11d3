#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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

/// The rings the operator publishes, by key ("namespace/name"): two
/// namespaces may each hold a ring of the same name, and they never meet.
/// Each ring's version only ever grows: it is persisted to
/// `<stateDir>/rings/<namespace>_<name>.json` before it is served, and survives
/// removal, so a proxy never sees a version go back even across operator
/// restarts. A version floor learnt from elsewhere (the HashRing's
/// status.ringVersion, which every operator replica sees) is never undercut,
/// so versions keep growing across a leader failover too. Thread-safe.
class RingRegistry {
 public:
  /// Called with the ring's key.
  using ChangeHandler = std::function<void(const std::string& key)>;

  /// `stateDir` empty: nothing is persisted (tests).
  explicit RingRegistry(std::filesystem::path stateDir);

  /// Loads the persisted rings, which are served again at once. Returns one
  /// message per unreadable file (skipped). A file from before namespaces
  /// (`<name>.json`) is loaded as ring "default/<name>".
  std::vector<std::string> load();

  struct Published {
    bool changed = false;  // false: identical to the ring in force, nothing published
    std::uint64_t version = 0;
    double movedKeyspace = 0;
    std::string summary;
  };

  /// Publishes `spec` as ring `key` (its version is assigned here: above every
  /// version this ring had and above its floor) unless it equals the ring in
  /// force apart from the version and that version is not below the floor.
  /// Returns an Error when the spec is invalid or the version cannot be
  /// persisted (then nothing is published).
  Result<Published> publish(const std::string& key, ring::RingSpec spec);

  /// Serves `spec` as ring `key` at exactly `spec.version` (a follower serving
  /// what the leader recorded), unless that is not newer than the ring in
  /// force (then nothing changes). Same errors as publish().
  Result<Published> mirror(const std::string& key, ring::RingSpec spec);

  /// Records that `version` of ring `key` was published elsewhere: the next
  /// publish() of `key` gets a higher version, even for an unchanged ring.
  /// Never blocks on I/O.
  void raiseVersionFloor(const std::string& key, std::uint64_t version);

  /// The highest version ring `key` has had or must exceed (0: none). Never blocks on I/O.
  std::uint64_t lastVersion(const std::string& key) const;

  /// Withdraws ring `key` (404 from then on); its version is kept.
  Status remove(const std::string& key);

  /// The ring in force under `key`, or nullptr.
  std::shared_ptr<const ring::RingSnapshot> get(const std::string& key) const;

  /// The key of the ring `ref` names: "namespace/name" as is, or a bare name
  /// when exactly one namespace has a ring of that name in force. NotFound
  /// when none does; Conflict, naming the namespaces, when several do.
  Result<std::string> resolve(const std::string& ref) const;

  /// Every ring in force, sorted by key.
  std::vector<std::shared_ptr<const ring::RingSnapshot>> list() const;

  /// The keys of every ring in force, sorted.
  std::vector<std::string> keys() const;

  /// The last published changes of `key`, oldest first (at most 50).
  std::vector<RingChange> history(const std::string& key) const;

  /// Registers a handler called after every publish or removal, on the
  /// publishing thread, with no registry lock held. Call before publishing.
  void onChange(ChangeHandler handler);

 private:
  struct Entry {
    std::shared_ptr<const ring::RingSnapshot> ring;  // null once removed
    std::uint64_t lastVersion = 0;
    std::uint64_t floor = 0;  // a version published elsewhere; never served again here
    std::deque<RingChange> history;
  };

  Result<Published> install(const std::string& key, ring::RingSpec spec, std::unique_lock<std::mutex>& writing);
  Status persist(const std::string& key, const Entry& entry) const;
  std::optional<std::string> loadFile(const std::filesystem::path& file);
  std::vector<ChangeHandler> handlers() const;

  std::filesystem::path dir_;
  std::mutex writeMutex_;     // one publish or removal at a time (held across the disk write)
  mutable std::mutex mutex_;  // entries_ and handlers_; never held across the disk write
  std::map<std::string, Entry> entries_;
  std::vector<ChangeHandler> handlers_;
};

/// The file name a ring key is persisted under: "<namespace>_<name>.json"
/// (neither a namespace nor a name may contain '_').
std::string ringFileName(const std::string& key);

/// The ring key a persisted file name stands for; a name without '_' is a
/// file from before namespaces: "default/<name>".
std::string ringKeyOfFile(const std::string& stem);

/// A one-line description of what differs between two rings.
std::string describeRingChange(const ring::RingSpec* before, const ring::RingSpec& after);

}  // namespace ringlb::op
