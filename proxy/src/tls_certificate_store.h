#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "file_stamp.h"
#include "ringlb/base/result.h"
#include "ringlb/proxy/config.h"
#include "tls_context_set.h"

namespace ringlb::proxy {

/// The TLS certificates in force, published as an immutable TlsContextSet
/// with a generation number, the way RingStore publishes rings: a worker
/// compares `generation()` (one atomic load) per accepted connection and
/// calls `current()` (which locks) only when it moved, so the data plane
/// takes no lock. A connection holds the set it started with, so replacing
/// the set never disturbs open connections.
///
/// Reload: `reloadIfChanged()` stats the files (following symlinks, so a
/// Kubernetes Secret's `..data` swap counts) and, when any changed, builds a
/// new set from all of them. A set that fails to build (garbage, a missing
/// file, a key that does not match) is refused with an error naming the file
/// and the reason; the old set stays in force and the files are read again
/// at their next change.
class TlsCertificateStore {
 public:
  TlsCertificateStore(std::vector<TlsCertificateFiles> files, TlsAlpn alpn);

  /// Loads the files now and publishes the set. Returns the error (naming the
  /// file) when they fail, leaving the set in force untouched. Control thread.
  Status load();
  /// Reloads when a file's stat (mtime, size, inode, of the symlink's target)
  /// moved since the last load. Returns nullopt when nothing changed, else the
  /// load's status. Control thread.
  std::optional<Status> reloadIfChanged();

  /// Generation of the current set; 0 before the first load. Lock-free.
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  /// The current set, or null before the first load. Locks; once per changed generation.
  std::shared_ptr<const TlsContextSet> current() const;

  std::uint64_t applied() const noexcept { return applied_.load(std::memory_order_relaxed); }
  std::uint64_t rejected() const noexcept { return rejected_.load(std::memory_order_relaxed); }

 private:
  std::vector<std::optional<FileStamp>> stamps() const;

  std::vector<TlsCertificateFiles> files_;
  TlsAlpn alpn_;
  std::vector<std::optional<FileStamp>> lastStamps_;  // taken before the last load read the files
  mutable std::mutex mutex_;
  std::shared_ptr<const TlsContextSet> set_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> applied_{0};
  std::atomic<std::uint64_t> rejected_{0};
};

}  // namespace ringlb::proxy
