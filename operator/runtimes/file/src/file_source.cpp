#include "ringlb/operator/file_source.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "ringlb/operator/desired_state.h"
#include "ringlb/operator/resource_parser.h"

namespace ringlb::op {

namespace fs = std::filesystem;

FileSource::FileSource(fs::path path, std::chrono::milliseconds pollInterval)
    : path_(std::move(path)), pollInterval_(pollInterval) {}

FileSource::~FileSource() { stop(); }

void FileSource::start(EventHandler handler) {
  handler_ = std::move(handler);
  scanOnce();
  thread_ = std::thread([this] { run(); });
}

void FileSource::stop() {
  {
    std::lock_guard lock(stopMutex_);
    stopping_ = true;
  }
  stopSignal_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Status FileSource::writeStatus(const HashRing&, const HashRingStatus&) { return ok(); }

void FileSource::run() {
  std::unique_lock lock(stopMutex_);
  while (!stopSignal_.wait_for(lock, pollInterval_, [this] { return stopping_; })) {
    lock.unlock();
    scanOnce();
    lock.lock();
  }
}

void FileSource::emit(const ResourceEvent& event) {
  if (handler_) handler_(event);
}

std::map<std::string, fs::path> FileSource::listFiles(std::string& error) const {
  std::map<std::string, fs::path> files;
  std::error_code ec;
  const auto status = fs::status(path_, ec);
  if (ec || !fs::exists(status)) {
    error = path_.string() + ": no such file or directory";
    return files;
  }
  if (!fs::is_directory(status)) {
    files[path_.string()] = path_;
    return files;
  }
  for (const auto& entry : fs::directory_iterator(path_, ec)) {
    const auto ext = entry.path().extension();
    const auto name = entry.path().filename().string();
    if ((ext == ".yaml" || ext == ".yml") && !name.starts_with(".") && entry.is_regular_file(ec)) {
      files[(path_ / entry.path().filename()).string()] = entry.path();
    }
  }
  if (ec) error = path_.string() + ": " + ec.message();
  return files;
}

void FileSource::scanOnce() {
  std::lock_guard lock(scanMutex_);
  std::string error;
  const auto files = listFiles(error);
  if (error != pathError_) {
    // The whole path is missing: an error, never a deletion of what runs.
    if (!error.empty()) {
      emit({ResourceEvent::Kind::Invalid, std::string(kUnnamedResourcePrefix) + path_.string(), std::nullopt, error});
    } else {
      emit({ResourceEvent::Kind::Deleted, std::string(kUnnamedResourcePrefix) + path_.string(), std::nullopt, {}});
    }
    pathError_ = error;
  }
  if (!error.empty()) return;

  for (auto it = files_.begin(); it != files_.end();) {
    if (!files.count(it->first)) {
      const std::string display = (it++)->first;
      removeFile(display);
    } else {
      ++it;
    }
  }
  for (const auto& [display, file] : files) {
    struct stat info {};
    if (::stat(file.c_str(), &info) != 0) continue;  // vanished between listing and stat; next scan sees it
    FileStamp stamp;
    std::error_code ec;
    stamp.mtime = fs::last_write_time(file, ec);
    stamp.size = static_cast<std::uintmax_t>(info.st_size);
    stamp.inode = info.st_ino;
    const auto known = files_.find(display);
    if (known != files_.end() && known->second.stamp == stamp) continue;
    loadFile(display, file, stamp);
  }
}

void FileSource::removeFile(const std::string& display) {
  FileState state = std::move(files_[display]);
  files_.erase(display);
  for (const auto& [key, ring] : state.rings) {
    owners_.erase(key);
    emit({ResourceEvent::Kind::Deleted, key, std::nullopt, {}});
  }
  for (const auto& key : state.errorKeys) {
    if (!state.rings.count(key)) emit({ResourceEvent::Kind::Deleted, key, std::nullopt, {}});
  }
}

void FileSource::loadFile(const std::string& display, const fs::path& file, const FileStamp& stamp) {
  FileState& state = files_[display];
  state.stamp = stamp;

  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  ParsedResources parsed;
  if (!in) {
    parsed.errors.push_back({"", display + ": cannot read the file"});
  } else {
    parsed = parseHashRings(text.str(), display);
  }
  for (const auto& ring : parsed.rings) {
    const auto owner = owners_.find(ring.key());
    if (owner != owners_.end() && owner->second != display) {
      parsed.errors.push_back(
          {ring.key(), display + ": metadata.name: HashRing '" + ring.key() + "' is already defined in " + owner->second});
    }
  }
  for (auto it = parsed.rings.begin(); it != parsed.rings.end(); ++it) {
    for (auto other = parsed.rings.begin(); other != it; ++other) {
      if (other->key() == it->key()) {
        parsed.errors.push_back({it->key(), display + ": metadata.name: HashRing '" + it->key() + "' is defined twice"});
      }
    }
  }

  if (!parsed.errors.empty()) {
    // The whole file is held back: every ring it defined keeps its last good
    // state and carries the error.
    std::set<std::string> errorKeys;
    for (const auto& failure : parsed.errors) {
      const std::string key =
          failure.key.empty() ? std::string(kUnnamedResourcePrefix) + display : failure.key;
      if (errorKeys.insert(key).second) emit({ResourceEvent::Kind::Invalid, key, std::nullopt, failure.message});
    }
    for (const auto& [key, ring] : state.rings) {
      if (errorKeys.insert(key).second) {
        emit({ResourceEvent::Kind::Invalid, key, std::nullopt, parsed.errors.front().message});
      }
    }
    for (const auto& key : state.errorKeys) {
      // An earlier error that no longer applies to this (still broken) file.
      if (!errorKeys.count(key) && !state.rings.count(key)) emit({ResourceEvent::Kind::Deleted, key, std::nullopt, {}});
    }
    state.errorKeys = std::move(errorKeys);
    return;
  }

  std::map<std::string, HashRing> rings;
  for (auto& ring : parsed.rings) {
    const std::string key = ring.key();
    const auto previous = state.rings.find(key);
    std::int64_t& generation = generations_[key];
    if (previous == state.rings.end() || !(previous->second.spec == ring.spec)) ++generation;
    ring.metadata.generation = generation;
    const bool changed = previous == state.rings.end() || !(previous->second.spec == ring.spec) ||
                         !(previous->second.metadata == ring.metadata) || state.errorKeys.count(key);
    owners_[key] = display;
    if (changed) emit({ResourceEvent::Kind::Upserted, key, ring, {}});
    rings.emplace(key, std::move(ring));
  }
  for (const auto& [key, ring] : state.rings) {
    if (!rings.count(key)) {
      owners_.erase(key);
      emit({ResourceEvent::Kind::Deleted, key, std::nullopt, {}});
    }
  }
  for (const auto& key : state.errorKeys) {
    if (!rings.count(key) && !state.rings.count(key)) emit({ResourceEvent::Kind::Deleted, key, std::nullopt, {}});
  }
  state.errorKeys.clear();
  state.rings = std::move(rings);
}

}  // namespace ringlb::op
