#include "accept_backoff.h"

#include <algorithm>
#include <cerrno>
#include <utility>

namespace ringlb::proxy {

namespace {

bool outOfResources(int error) noexcept {
  return error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM;
}

bool clientAlreadyGone(int error) noexcept { return error == ECONNABORTED || error == EPROTO; }

}  // namespace

AcceptBackoff::Step AcceptBackoff::onFailure(int error) noexcept {
  if (clientAlreadyGone(error)) return {};
  Step step;
  step.logIt = failures_ == 0;
  ++failures_;
  step.fdLimit = error == EMFILE || error == ENFILE;
  // An unknown error may repeat at once as well, so it pauses too, but briefly:
  // only running out of resources is worth the growing pause.
  pause_ = outOfResources(error) ? std::clamp(pause_ * 2, kFirstPause, kMaxPause) : kFirstPause;
  step.pause = pause_;
  return step;
}

std::uint64_t AcceptBackoff::onSuccess() noexcept {
  pause_ = std::chrono::milliseconds{0};
  return std::exchange(failures_, 0);
}

}  // namespace ringlb::proxy
