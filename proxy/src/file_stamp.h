#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>

namespace ringlb::proxy {

/// What tells a file's change without reading it: modification time, size and inode. The inode
/// catches a Kubernetes Secret or ConfigMap mount, which swaps a `..data` symlink to new files
/// whose time and size may equal the old ones.
struct FileStamp {
  std::int64_t mtimeNanos = 0;
  std::int64_t size = -1;
  std::uint64_t inode = 0;
  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

/// The stamp of `path` (following symlinks), or nothing when it cannot be stat'ed.
inline std::optional<FileStamp> fileStamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                   static_cast<std::int64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino)};
}

}  // namespace ringlb::proxy
