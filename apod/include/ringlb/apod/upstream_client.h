#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <chrono>
#include <cstddef>
#include <memory>

#include <boost/asio/ssl/context.hpp>

#include "ringlb/apod/upstream_fetcher.h"
#include "ringlb/apod/upstream_url.h"

namespace ringlb::apod {

/// UpstreamFetcher over HTTP/1.1 with Beast: plain TCP for http://, OpenSSL for https://
/// (peer and host name verified). One connection per request, closed afterwards; the cache
/// in front keeps the request rate low. Runs on the caller's executor.
class UpstreamClient final : public UpstreamFetcher {
 public:
  /// Largest upstream body accepted (a full-range answer of the real API is ~20 MB).
  static constexpr std::uint64_t kMaxBodyBytes = 64ULL << 20;

  /// `tls` is required for https:// URLs and must outlive the client.
  UpstreamClient(UpstreamUrl url, std::chrono::milliseconds timeout, std::shared_ptr<boost::asio::ssl::context> tls);

  boost::asio::awaitable<Result<UpstreamResponse>> get(std::string pathAndQuery) override;

  [[nodiscard]] const UpstreamUrl& url() const noexcept { return url_; }

  /// A client TLS context that verifies peers against the system store, plus `caFile` if not
  /// empty. Throws on an unreadable CA file (startup only).
  static std::shared_ptr<boost::asio::ssl::context> makeTlsContext(const std::string& caFile);

 private:
  UpstreamUrl url_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace ringlb::apod
