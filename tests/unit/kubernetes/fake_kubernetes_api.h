#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ringlb/operator/kubernetes_api.h"
#include "ringlb/operator/testing/fake_clock.h"

namespace ringlb::op::testing {

/// A KubernetesApi whose answers the test scripts. Requests go to `onRequest`;
/// each stream() call takes the next scripted stream.
class FakeKubernetesApi final : public KubernetesApi {
 public:
  struct Call {
    std::string method;
    std::string target;
    std::string body;
    std::string contentType;
    std::optional<std::chrono::milliseconds> budget = {};  // requestWithin(): the caller's time limit
  };
  struct ScriptedStream {
    int status = 200;
    std::vector<std::string> chunks;  // body pieces, delivered in order
    std::string errorBody;            // for a non-2xx status
    std::string transportError;       // non-empty: the stream fails after its chunks
  };

  std::function<Result<ApiResponse>(const Call&)> onRequest = [](const Call&) -> Result<ApiResponse> {
    return ApiResponse{404, R"({"kind":"Status","code":404})", "application/json"};
  };

  Result<ApiResponse> request(std::string_view method, std::string_view target, std::string_view body,
                              std::string_view contentType) override {
    Call call{std::string(method), std::string(target), std::string(body), std::string(contentType)};
    {
      std::lock_guard lock(mutex_);
      calls.push_back(call);
    }
    return onRequest(call);
  }

  Result<ApiResponse> requestWithin(std::chrono::milliseconds budget, std::string_view method, std::string_view target,
                                    std::string_view body, std::string_view contentType) override {
    Call call{std::string(method), std::string(target), std::string(body), std::string(contentType), budget};
    {
      std::lock_guard lock(mutex_);
      calls.push_back(call);
    }
    return onRequest(call);
  }

  Result<ApiResponse> stream(std::string_view target, const DataHandler& onData, StreamCancel& cancel,
                             std::chrono::milliseconds) override {
    ScriptedStream script;
    {
      std::lock_guard lock(mutex_);
      streamTargets.emplace_back(target);
      if (streams.empty()) return Error{"no scripted stream"};
      script = std::move(streams.front());
      streams.pop_front();
    }
    if (cancel.cancelled()) return Error{"stream cancelled"};
    if (script.status < 200 || script.status >= 300) return ApiResponse{script.status, script.errorBody, ""};
    for (const auto& chunk : script.chunks) {
      if (!onData(chunk)) break;
    }
    if (!script.transportError.empty()) return Error{script.transportError};
    return ApiResponse{script.status, "", ""};
  }

  std::vector<Call> callsWith(const std::string& method) {
    std::lock_guard lock(mutex_);
    std::vector<Call> out;
    for (const auto& call : calls) {
      if (call.method == method) out.push_back(call);
    }
    return out;
  }

  std::mutex mutex_;
  std::vector<Call> calls;
  std::deque<ScriptedStream> streams;
  std::vector<std::string> streamTargets;
};

}  // namespace ringlb::op::testing
