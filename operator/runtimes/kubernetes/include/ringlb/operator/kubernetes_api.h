#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "ringlb/base/result.h"

namespace ringlb::op {

/// One HTTP answer from the API server. Any status code is a Result value;
/// only transport failures are Errors: Unavailable (connect, TLS, reset),
/// Transient (a timeout, a cancelled stream).
struct ApiResponse {
  int status = 0;
  std::string body;
  std::string contentType;

  bool success() const noexcept { return status >= 200 && status < 300; }
};

/// The kind of failure an answer's HTTP status means: 404 and 410 NotFound,
/// 409 Conflict, 400 and 422 Invalid, 408 and 429 Transient, 401, 403 and 5xx
/// Unavailable; any other non-2xx status Internal.
ErrorKind apiErrorKind(int status) noexcept;

/// The "message" of the API server's Status answer, else the body's start.
std::string apiMessage(const ApiResponse& response);

/// The Error for a non-2xx `response` to `what` ("apply Pod default/apod-0"):
/// "<what>: HTTP <status>: <message>" ("conflict (HTTP 409), will retry" for
/// a 409), of the status's kind.
Error apiError(std::string_view what, const ApiResponse& response);

/// Lets another thread abort a streaming request (a watch). Thread-safe.
class StreamCancel {
 public:
  /// Aborts the stream bound to this object, now or when it is bound. The
  /// bound action runs under the lock so it cannot outlive an unbind; it must
  /// only post work, never block.
  void cancel() {
    std::lock_guard lock(mutex_);
    cancelled_ = true;
    if (onCancel_) onCancel_();
  }

  bool cancelled() const {
    std::lock_guard lock(mutex_);
    return cancelled_;
  }

  /// Binds the abort action of the running stream (empty to unbind).
  /// Returns false when cancel() already happened.
  bool bind(std::function<void()> action) {
    std::lock_guard lock(mutex_);
    onCancel_ = std::move(action);
    return !cancelled_;
  }

 private:
  mutable std::mutex mutex_;
  bool cancelled_ = false;
  std::function<void()> onCancel_;
};

/// The HTTP surface of the Kubernetes API that the operator uses: plain
/// requests and a streamed GET for watches. KubernetesClient implements it
/// over Beast; tests implement it with in-memory fakes.
class KubernetesApi {
 public:
  /// Receives each piece of a streamed body as it arrives; return false to stop.
  using DataHandler = std::function<bool(std::string_view)>;

  virtual ~KubernetesApi() = default;

  /// Sends one request (`target` is the path and query, e.g.
  /// "/api/v1/namespaces/default/pods?limit=500") and reads the whole answer.
  /// Thread-safe; blocks for at most the client's request timeout.
  virtual Result<ApiResponse> request(std::string_view method, std::string_view target, std::string_view body = {},
                                      std::string_view contentType = {}) = 0;

  /// As request(), but gives up once `budget` has passed (connecting,
  /// sending and reading together, retries included) with a Transient Error,
  /// for a caller with a deadline of its own (a Lease renewal must end before
  /// the renew deadline). A zero budget fails at once. Thread-safe.
  virtual Result<ApiResponse> requestWithin(std::chrono::milliseconds budget, std::string_view method,
                                            std::string_view target, std::string_view body = {},
                                            std::string_view contentType = {}) = 0;

  /// Sends a GET and streams the body of a 2xx answer to `onData` until the
  /// server ends it, `onData` returns false, `cancel` fires, or nothing arrives
  /// for `idleTimeout` (an Error). A non-2xx answer is returned whole, with
  /// nothing passed to `onData`. Thread-safe; blocks the calling thread.
  virtual Result<ApiResponse> stream(std::string_view target, const DataHandler& onData, StreamCancel& cancel,
                                     std::chrono::milliseconds idleTimeout) = 0;
};


}  // namespace ringlb::op
