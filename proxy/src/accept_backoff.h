#pragma once

#include <chrono>
#include <cstdint>

namespace ringlb::proxy {

/// What an acceptor does after accept() fails: whether the failure refused a
/// client for lack of descriptors (counted as `reason="fd_limit"`), how long to
/// pause before accepting again, and whether to log. Pure; one per acceptor,
/// used only by its worker's thread.
///
/// Out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM), the
/// pending connection stays in the backlog and accept() would fail again at
/// once: the pause doubles from kFirstPause to kMaxPause so the worker does not
/// spin, and keeps serving its open connections meanwhile. A connection that
/// the client already abandoned (ECONNABORTED, EPROTO) is gone from the
/// backlog, so accepting resumes without a pause.
class AcceptBackoff {
 public:
  static constexpr std::chrono::milliseconds kFirstPause{10};
  static constexpr std::chrono::milliseconds kMaxPause{100};

  struct Step {
    std::chrono::milliseconds pause{0};  // 0: accept again at once
    bool fdLimit = false;                // count a refusal for lack of descriptors
    bool logIt = false;                  // first failure of a burst: log once
  };

  /// A failed accept with `error` (an errno value). Returns what to do next.
  Step onFailure(int error) noexcept;

  /// A successful accept ends the burst of failures. Returns how many
  /// failures the burst had (0 when there was none), for one recovery log line.
  std::uint64_t onSuccess() noexcept;

 private:
  std::chrono::milliseconds pause_{0};
  std::uint64_t failures_ = 0;
};

}  // namespace ringlb::proxy
