#include "ring_file_watcher.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

namespace ringlb::proxy {

RingFileWatcher::RingFileWatcher(asio::io_context& ioc, RingPublisher& publisher, RingStore& store, std::string path,
                                 std::chrono::milliseconds interval)
    : ioc_(ioc), publisher_(publisher), store_(store), path_(std::move(path)), interval_(interval) {}

std::optional<RingFileWatcher::Stamp> RingFileWatcher::stat() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return std::nullopt;
  return Stamp{static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
               static_cast<std::int64_t>(st.st_size), static_cast<std::uint64_t>(st.st_ino)};
}

Status RingFileWatcher::loadNow() {
  last_ = stat();
  std::ifstream file(path_, std::ios::binary);
  if (!file) {
    store_.countRejected();
    spdlog::error("ring file {} cannot be read; keeping the previous ring", path_);
    return Error{path_ + ": cannot be read"};
  }
  std::ostringstream text;
  text << file.rdbuf();
  auto status = publisher_.applyJson(text.str(), "file:" + path_);
  if (!status) return Error{path_ + ": " + status.error()};
  store_.confirm(monotonicNanos());
  return status;
}

void RingFileWatcher::start() {
  timer_.emplace(ioc_);
  asio::co_spawn(ioc_, loop(), [](std::exception_ptr) {});
}

void RingFileWatcher::stop() {
  if (timer_) timer_->cancel();
}

Task<void> RingFileWatcher::loop() {
  for (;;) {
    timer_->expires_after(interval_);
    error_code ec;
    co_await timer_->async_wait(noThrow(ec));
    if (ec) co_return;
    const auto now = stat();
    if (now == last_) continue;
    if (!now) {
      if (last_) spdlog::warn("ring file {} disappeared; keeping the ring in force", path_);
      last_ = now;
      continue;
    }
    (void)loadNow();
  }
}

}  // namespace ringlb::proxy
