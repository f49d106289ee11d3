#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "asio_types.h"
#include "file_stamp.h"
#include "ring_publisher.h"

namespace ringlb::proxy {

/// Follows a ring JSON file (--ring-file): checks its stat (mtime, size,
/// inode, following symlinks so ConfigMap swaps count) every interval and
/// applies it when it changed. A bad file is refused and the previous ring
/// stays. Runs on the control io_context.
class RingFileWatcher {
 public:
  RingFileWatcher(asio::io_context& ioc, RingPublisher& publisher, RingStore& store, std::string path,
                  std::chrono::milliseconds interval = std::chrono::milliseconds(200));

  /// Reads and applies the file now. Returns why it was not applied.
  Status loadNow();
  void start();
  void stop();

 private:
  Task<void> loop();

  asio::io_context& ioc_;
  RingPublisher& publisher_;
  RingStore& store_;
  std::string path_;
  std::chrono::milliseconds interval_;
  std::optional<FileStamp> last_;
  std::optional<SteadyTimer> timer_;
};

}  // namespace ringlb::proxy
