#include "ringlb/operator/status_writer.h"

namespace ringlb::op {

StatusWriter::StatusWriter(ResourceSource& source, FailureHandler onFailure)
    : source_(source), onFailure_(std::move(onFailure)), thread_([this] { run(); }) {}

StatusWriter::~StatusWriter() { stop(); }

void StatusWriter::submit(const HashRing& ring, HashRingStatus status) {
  const std::string key = ring.key();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    auto [it, inserted] = pending_.insert_or_assign(key, Pending{ring, std::move(status)});
    if (inserted) order_.push_back(key);
  }
  wake_.notify_one();
}

void StatusWriter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void StatusWriter::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || !order_.empty(); });
    if (order_.empty()) return;  // stopping, and everything submitted is written
    const std::string key = std::move(order_.front());
    order_.pop_front();
    auto node = pending_.extract(key);
    lock.unlock();
    // A submit for this ring during the write waits for the next turn: writes of one ring never overlap.
    if (auto written = source_.writeStatus(node.mapped().ring, node.mapped().status); !written && onFailure_) {
      onFailure_(key, written.failure());
    }
    lock.lock();
  }
}

}  // namespace ringlb::op
