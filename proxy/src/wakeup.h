#pragma once

#include "asio_types.h"

namespace ringlb::proxy {

/// Wakes a coroutine waiting for a condition on the same io_context. The
/// waiter checks its condition, then waits; notify() completes the wait
/// through the io_context (never inline, so a notifier inside a library
/// callback is not re-entered). A notify with no waiter is dropped, which
/// is safe because waiters check their condition first and nothing runs
/// between the check and the wait. Single-threaded.
class Wakeup {
 public:
  explicit Wakeup(asio::io_context& ioc) : timer_(ioc, SteadyTimer::time_point::max()) {}

  /// Waits until notify(); `ec` receives operation_aborted then.
  auto wait(error_code& ec) {
    timer_.expires_at(SteadyTimer::time_point::max());
    return timer_.async_wait(noThrow(ec));
  }
  void notify() noexcept { timer_.cancel(); }

 private:
  SteadyTimer timer_;
};

}  // namespace ringlb::proxy
