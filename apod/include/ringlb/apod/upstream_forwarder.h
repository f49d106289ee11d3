#pragma once

#include <utility>  // before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "ringlb/apod/api_reply.h"
#include "ringlb/apod/apod_metrics.h"
#include "ringlb/apod/apod_service.h"
#include "ringlb/apod/query_params.h"
#include "ringlb/apod/response_cache.h"
#include "ringlb/apod/upstream_fetcher.h"

namespace ringlb::apod {

/// Where an answer came from; sent to clients in the X-Apod-Source header.
enum class ReplySource { kOffline, kUpstream, kUpstreamCache, kOfflineFallback };

/// The header value for a source: offline, upstream, upstream-cache, offline-fallback.
const char* toString(ReplySource source) noexcept;

/// An API answer and its provenance.
struct SourcedReply {
  ApiReply reply;
  ReplySource source = ReplySource::kOffline;
  std::string upstreamError;  // why the upstream was not used (kOfflineFallback only)
};

/// Answers API requests from the real APOD API: forwards the known parameters with the API key
/// appended, caches successful answers (except `count`, which is random by design), and falls
/// back to the offline dataset when the upstream cannot answer (transport error, timeout, 429,
/// 5xx). Requests that fail the API's own syntax rules are answered locally with the same 400 the
/// upstream would give, without spending upstream quota. Thread-safe.
class UpstreamForwarder {
 public:
  using Now = std::function<ResponseCache::TimePoint()>;

  /// `offline`, `metrics` must outlive the forwarder. `metrics` may be null.
  UpstreamForwarder(std::unique_ptr<UpstreamFetcher> fetcher, std::string apiKey, ResponseCacheLimits cacheLimits,
                    const ApodService& offline, ApodMetrics* metrics, Now now = {});

  /// Answers one `GET /planetary/apod` with `params`. Never throws.
  boost::asio::awaitable<SourcedReply> answer(const QueryParams& params);

  /// The cache key and forwarded query for `params`: the API's known, non-empty parameters,
  /// sorted, percent-encoded (no api_key). Exposed for tests.
  static std::string canonicalQuery(const QueryParams& params);

  [[nodiscard]] const ResponseCache& cache() const noexcept { return cache_; }

 private:
  std::unique_ptr<UpstreamFetcher> fetcher_;
  std::string apiKey_;
  ResponseCache cache_;
  const ApodService& offline_;
  ApodMetrics* metrics_;
  Now now_;
};

}  // namespace ringlb::apod
