#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "ringlb/operator/docker_client.h"
#include "ringlb/operator/docker_event_parser.h"

namespace ringlb::op {

/// Follows GET /events on its own thread and hands each decoded event over
/// as soon as its bytes arrive. When the stream fails or ends it reconnects
/// with a backoff that doubles from `backoffMin` up to `backoffMax` and
/// resets once a stream opens.
class DockerEventWatcher {
 public:
  struct Handlers {
    std::function<void(const DockerEvent&)> onEvent;
    /// The stream is open (again): events from before may have been missed.
    std::function<void()> onOpen;
    /// The stream failed; `message` names the endpoint and the cause.
    std::function<void(const std::string& message)> onError;
  };

  /// `filters` is the JSON of the `filters` query parameter, unencoded.
  DockerEventWatcher(DockerClient client, std::string filters, std::chrono::milliseconds backoffMin,
                     std::chrono::milliseconds backoffMax, Handlers handlers);
  ~DockerEventWatcher();

  DockerEventWatcher(const DockerEventWatcher&) = delete;
  DockerEventWatcher& operator=(const DockerEventWatcher&) = delete;

  /// Starts the thread. Call once.
  void start();

  /// Ends the stream and joins the thread; no handler runs after it returns.
  /// Idempotent; must not be called from a handler.
  void stop();

  /// The /events target with the filters encoded, for tests and messages.
  const std::string& target() const noexcept { return target_; }

 private:
  void run();

  DockerClient client_;
  std::string target_;
  std::chrono::milliseconds backoffMin_;
  std::chrono::milliseconds backoffMax_;
  Handlers handlers_;

  DockerStreamCancel cancel_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};


}  // namespace ringlb::op
