#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "ringlb/operator/resource_source.h"

namespace ringlb::op {

/// HashRing resources from a YAML file or a directory of *.yaml/*.yml files
/// (several `---` documents per file allowed), watched by polling their
/// modification time, size and inode (robust to editors that replace files).
/// A file that fails to parse yields Invalid events for the rings it defined
/// (or "file:<path>" when it names none) and never a deletion.
class FileSource final : public ResourceSource {
 public:
  explicit FileSource(std::filesystem::path path, std::chrono::milliseconds pollInterval = std::chrono::milliseconds(250));
  ~FileSource() override;

  /// Scans once, delivering every current resource on the calling thread,
  /// then polls on a source-owned thread. A missing path is an Invalid event.
  void start(EventHandler handler) override;
  void stop() override;

  /// Files carry no status: a no-op.
  Status writeStatus(const HashRing& ring, const HashRingStatus& status) override;

  /// Runs one scan now (tests; start() polls on its own).
  void scanOnce();

 private:
  struct FileStamp {
    std::filesystem::file_time_type mtime{};
    std::uintmax_t size = 0;
    std::uint64_t inode = 0;
    friend bool operator==(const FileStamp&, const FileStamp&) = default;
  };
  struct FileState {
    FileStamp stamp;
    std::map<std::string, HashRing> rings;  // last good, by key
    std::set<std::string> errorKeys;        // keys we reported Invalid for
  };

  std::map<std::string, std::filesystem::path> listFiles(std::string& error) const;
  void loadFile(const std::string& display, const std::filesystem::path& file, const FileStamp& stamp);
  void removeFile(const std::string& display);
  void emit(const ResourceEvent& event);
  void run();

  std::filesystem::path path_;
  std::chrono::milliseconds pollInterval_;
  EventHandler handler_;
  std::mutex scanMutex_;  // one scan at a time
  std::map<std::string, FileState> files_;
  std::map<std::string, std::string> owners_;       // ring key → file that defines it
  std::map<std::string, std::int64_t> generations_;  // ring key → generation, bumped on spec change
  std::string pathError_;

  std::mutex stopMutex_;
  std::condition_variable stopSignal_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ringlb::op
