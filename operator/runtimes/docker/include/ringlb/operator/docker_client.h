#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "ringlb/operator/docker_endpoint.h"
#include "ringlb/base/result.h"

namespace boost::asio {
class io_context;
}

namespace ringlb::op {

/// One answer from the Engine API.
struct DockerResponse {
  unsigned status = 0;
  std::string body;

  bool ok() const noexcept { return status >= 200 && status < 300; }
  /// The daemon's {"message": ...} text, or the raw body when it has none.
  std::string message() const;
  /// This (failed) answer to `what` as an Error of its status's kind:
  /// "<what>: <message>".
  Error error(std::string_view what) const;
};

/// The kind of failure a daemon's HTTP status means: 400 Invalid, 404
/// NotFound, 409 Conflict, 408 and 429 Transient, 5xx Unavailable; any other
/// non-2xx status Internal.
ErrorKind dockerErrorKind(unsigned status) noexcept;

/// Lets another thread end a DockerClient::stream call. Thread-safe.
class DockerStreamCancel {
 public:
  /// Ends the current stream (if any) and every later one; idempotent.
  void cancel();
  bool cancelled() const;

 private:
  friend class DockerClient;
  bool attach(boost::asio::io_context* context);
  void detach();

  mutable std::mutex mutex_;
  boost::asio::io_context* context_ = nullptr;
  bool cancelled_ = false;
};

/// A small Docker Engine API client over Beast: a unix socket or TCP, one
/// connection per call, the API version pinned in every path. Errors are
/// Results; nothing throws. Thread-safe: calls share no state.
class DockerClient {
 public:
  static constexpr std::string_view kApiVersion = "v1.41";
  static constexpr std::chrono::milliseconds kDefaultTimeout{30000};

  /// `timeout` bounds each request (connect, send and answer) and the connect
  /// and response header of a stream, unless a call names its own.
  explicit DockerClient(DockerEndpoint endpoint, std::chrono::milliseconds timeout = kDefaultTimeout);

  const DockerEndpoint& endpoint() const noexcept { return endpoint_; }
  std::chrono::milliseconds timeout() const noexcept { return timeout_; }

  /// Sends `method` `target` ("/containers/json?all=1", without the version
  /// prefix) with an optional JSON body and waits up to `timeout` (default:
  /// the client's) for the whole answer. Any HTTP status is a response; an Error means the daemon
  /// could not be reached or the exchange failed, with the endpoint named:
  /// Transient when it timed out, else Unavailable.
  Result<DockerResponse> request(std::string_view method, std::string_view target, std::string body = {},
                                 std::optional<std::chrono::milliseconds> timeout = std::nullopt) const;

  /// Opens a streaming GET (such as /events), calls `onOpen` once the daemon
  /// has answered 200, then `onData` with each piece of the body as it
  /// arrives, all on the calling thread. Blocks until `cancel` fires (returns
  /// ok) or the stream fails or ends (an Error saying which).
  /// `connectTimeout` (default: the client's timeout) bounds the connect and
  /// the response header only: an open watch may stay quiet for any time.
  Status stream(std::string_view target, const std::function<void()>& onOpen,
                const std::function<void(std::string_view)>& onData, DockerStreamCancel& cancel,
                std::optional<std::chrono::milliseconds> connectTimeout = std::nullopt) const;

 private:
  DockerEndpoint endpoint_;
  std::chrono::milliseconds timeout_;
};

}  // namespace ringlb::op
