#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "ringlb/base/result.h"
#include "ringlb/operator/hash_ring.h"
#include "ringlb/operator/resource_source.h"

namespace ringlb::op {

/// Writes ring statuses to a ResourceSource on a thread of its own, so that a
/// slow or hung API server never holds up the controller. Per ring only the
/// latest status waits: a newer one replaces one not yet written. One write at
/// a time, so the writes of a ring leave in the order they were submitted;
/// rings take turns in the order they first became pending.
class StatusWriter {
 public:
  /// Told of each failed write, on the writer's thread, with no writer lock
  /// held; `key` is the ring's "namespace/name".
  using FailureHandler = std::function<void(const std::string& key, const Error& error)>;

  StatusWriter(ResourceSource& source, FailureHandler onFailure);
  ~StatusWriter();
  StatusWriter(const StatusWriter&) = delete;
  StatusWriter& operator=(const StatusWriter&) = delete;

  /// Queues `status` for `ring`, replacing any status of that ring not yet
  /// written. Never blocks on the write; thread-safe. Ignored after stop().
  void submit(const HashRing& ring, HashRingStatus status);

  /// Writes what is still pending, then ends the thread. Idempotent; thread-safe.
  void stop();

 private:
  struct Pending {
    HashRing ring;
    HashRingStatus status;
  };

  void run();

  ResourceSource& source_;
  const FailureHandler onFailure_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, Pending> pending_;  // by ring key
  std::deque<std::string> order_;           // keys of pending_, oldest first
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace ringlb::op
