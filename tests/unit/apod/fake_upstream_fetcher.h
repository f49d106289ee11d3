#pragma once

#include <deque>
#include <string>
#include <vector>

#include "ringlb/apod/upstream_fetcher.h"

namespace ringlb::apod::testing {

/// Records every target it is asked for and answers from a script (default: 200 "[]").
class FakeUpstreamFetcher final : public UpstreamFetcher {
 public:
  struct Log {
    std::vector<std::string> targets;
    std::deque<Result<UpstreamResponse>> script;
  };

  explicit FakeUpstreamFetcher(Log& log) : log_{log} {}

  boost::asio::awaitable<Result<UpstreamResponse>> get(std::string pathAndQuery) override {
    log_.targets.push_back(std::move(pathAndQuery));
    if (log_.script.empty()) co_return UpstreamResponse{200, R"({"from":"upstream"})"};
    auto next = std::move(log_.script.front());
    log_.script.pop_front();
    co_return next;
  }

 private:
  Log& log_;
};

}  // namespace ringlb::apod::testing
