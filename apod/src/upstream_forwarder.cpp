#include "ringlb/apod/upstream_forwarder.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "ringlb/apod/apod_query.h"
#include "ringlb/base/percent_encoding.h"

namespace ringlb::apod {
namespace {

// The parameters the real API understands; anything else is dropped, as the API ignores it.
constexpr std::array<std::string_view, 7> kForwardedParams = {"concept_tags", "count", "date",   "end_date",
                                                              "hd",           "start_date", "thumbs"};

bool upstreamFailed(unsigned status) { return status == 429 || status >= 500; }

}  // namespace

const char* toString(ReplySource source) noexcept {
  switch (source) {
    case ReplySource::kOffline: return "offline";
    case ReplySource::kUpstream: return "upstream";
    case ReplySource::kUpstreamCache: return "upstream-cache";
    case ReplySource::kOfflineFallback: return "offline-fallback";
  }
  return "offline";
}

UpstreamForwarder::UpstreamForwarder(std::unique_ptr<UpstreamFetcher> fetcher, std::string apiKey,
                                     ResponseCacheLimits cacheLimits, const ApodService& offline,
                                     ApodMetrics* metrics, Now now)
    : fetcher_{std::move(fetcher)},
      apiKey_{std::move(apiKey)},
      cache_{cacheLimits},
      offline_{offline},
      metrics_{metrics},
      now_{now ? std::move(now) : Now{[] { return std::chrono::steady_clock::now(); }}} {}

std::string UpstreamForwarder::canonicalQuery(const QueryParams& params) {
  std::string query;
  for (const auto name : kForwardedParams) {  // already sorted
    const auto value = params.nonEmpty(name);
    if (!value) continue;
    if (!query.empty()) query.push_back('&');
    query += name;
    query.push_back('=');
    query += percentEncode(*value);
  }
  return query;
}

boost::asio::awaitable<SourcedReply> UpstreamForwarder::answer(const QueryParams& params) {
  // Syntax and combination errors do not depend on the source's date range: answer them here.
  auto parsed = parseApodQuery(params, std::nullopt);
  if (!parsed) co_return SourcedReply{ApiReply::error(400, parsed.error()), ReplySource::kOffline, {}};

  const std::string query = canonicalQuery(params);
  const bool cacheable = parsed.value().kind != ApodQuery::Kind::kRandom;
  if (cacheable) {
    auto cached = cache_.get(query, now_());
    if (metrics_ != nullptr) metrics_->observeCacheLookup(cached.has_value());
    if (cached) co_return SourcedReply{ApiReply{200, std::move(*cached)}, ReplySource::kUpstreamCache, {}};
  }

  std::string target = "/planetary/apod?" + query;
  if (!query.empty()) target.push_back('&');
  target += "api_key=" + percentEncode(apiKey_);

  auto response = co_await fetcher_->get(std::move(target));
  std::string failure;
  if (!response) {
    failure = response.error();
    if (metrics_ != nullptr) metrics_->observeUpstream("failed");
  } else if (upstreamFailed(response.value().status)) {
    failure = "upstream answered HTTP " + std::to_string(response.value().status);
    if (metrics_ != nullptr) metrics_->observeUpstream("http_error");
  } else {
    if (metrics_ != nullptr) metrics_->observeUpstream("ok");
    auto& ok = response.value();
    if (ok.status == 200 && cacheable) cache_.put(query, ok.body, now_());
    co_return SourcedReply{ApiReply{ok.status, std::move(ok.body)}, ReplySource::kUpstream, {}};
  }
  co_return SourcedReply{offline_.answer(params), ReplySource::kOfflineFallback, std::move(failure)};
}

}  // namespace ringlb::apod
