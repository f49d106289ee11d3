#include "ringlb/base/percent_encoding.h"
#include "ringlb/operator/docker_event_watcher.h"

#include <algorithm>
#include <optional>

namespace ringlb::op {

namespace {
constexpr auto kHealthyStream = std::chrono::seconds(10);
}  // namespace

DockerEventWatcher::DockerEventWatcher(DockerClient client, std::string filters, std::chrono::milliseconds backoffMin,
                                       std::chrono::milliseconds backoffMax, Handlers handlers)
    : client_(std::move(client)),
      target_("/events?filters=" + percentEncode(filters)),
      backoffMin_(backoffMin),
      backoffMax_(std::max(backoffMin, backoffMax)),
      handlers_(std::move(handlers)) {}

DockerEventWatcher::~DockerEventWatcher() { stop(); }

void DockerEventWatcher::start() { thread_ = std::thread([this] { run(); }); }

void DockerEventWatcher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  cancel_.cancel();
  if (thread_.joinable()) thread_.join();
}

void DockerEventWatcher::run() {
  auto backoff = backoffMin_;
  DockerEventParser parser;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    parser.reset();
    std::optional<std::chrono::steady_clock::time_point> openedAt;
    const Status status = client_.stream(
        target_,
        [&] {
          openedAt = std::chrono::steady_clock::now();
          if (handlers_.onOpen) handlers_.onOpen();
        },
        [&](std::string_view bytes) {
          for (auto& event : parser.feed(bytes)) {
            if (event.ok()) {
              if (handlers_.onEvent) handlers_.onEvent(event.value());
            } else if (handlers_.onError) {
              handlers_.onError(event.error());
            }
          }
        },
        cancel_);
    std::unique_lock lock(mutex_);
    if (stopping_ || cancel_.cancelled()) return;
    if (!status.ok() && handlers_.onError) {
      lock.unlock();
      handlers_.onError(status.error());
      lock.lock();
    }
    // A stream that was healthy for a while is retried quickly; one that
    // never opens, or keeps breaking right after opening, backs off up to the
    // cap, so a dead daemon costs one attempt per backoffMax and no busy loop.
    if (openedAt && std::chrono::steady_clock::now() - *openedAt > kHealthyStream) backoff = backoffMin_;
    const auto wait = backoff;
    backoff = std::min(backoff * 2, backoffMax_);
    wake_.wait_for(lock, wait, [this] { return stopping_; });
    if (stopping_) return;
  }
}

}  // namespace ringlb::op
