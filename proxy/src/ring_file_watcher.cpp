#include "ring_file_watcher.h"

#include <fstream>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <spdlog/spdlog.h>

namespace ringlb::proxy {

RingFileWatcher::RingFileWatcher(asio::io_context& ioc, RingPublisher& publisher, RingStore& store, std::string path,
                                 std::chrono::milliseconds interval)
    : ioc_(ioc), publisher_(publisher), store_(store), path_(std::move(path)), interval_(interval) {}

Status RingFileWatcher::loadNow() {
  last_ = fileStamp(path_);
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
    const auto now = fileStamp(path_);
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
