#include "ringlb/operator/leader_fenced_api.h"

#include <gtest/gtest.h>

#include "fake_kubernetes_api.h"

namespace ringlb::op {
namespace {

using testing::FakeKubernetesApi;

struct FenceHarness {
  FakeKubernetesApi inner;
  bool leading = true;
  int refusals = 0;
  LeaderFencedApi api{inner, [this] { return leading; }, [this] { ++refusals; }};

  FenceHarness() {
    inner.onRequest = [](const FakeKubernetesApi::Call&) -> Result<ApiResponse> { return ApiResponse{200, "{}", ""}; };
  }
};

TEST(LeaderFencedApi, PassesEverythingWhileLeading) {
  FenceHarness h;
  for (const char* method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    auto response = h.api.request(method, "/api/v1/namespaces/default/pods/apod-0");
    ASSERT_TRUE(response.ok()) << method;
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_EQ(h.inner.calls.size(), 5u);
  EXPECT_EQ(h.api.refused(), 0u);
}

TEST(LeaderFencedApi, RefusesWritesOnceLeadershipLapsedAndNothingReachesTheServer) {
  FenceHarness h;
  h.leading = false;
  for (const char* method : {"POST", "PUT", "PATCH", "DELETE"}) {
    auto response = h.api.request(method, "/apis/ringlb.dev/v1alpha1/namespaces/ns/hashrings/apod/status?force=true",
                                  "{}", "application/apply-patch+yaml");
    ASSERT_FALSE(response.ok()) << method;
    EXPECT_EQ(response.errorKind(), ErrorKind::Unavailable);
    EXPECT_EQ(response.error(), std::string(method) +
                                    " /apis/ringlb.dev/v1alpha1/namespaces/ns/hashrings/apod/status: refused, this "
                                    "replica does not hold the leader Lease");
  }
  auto bounded = h.api.requestWithin(std::chrono::seconds(1), "DELETE", "/api/v1/namespaces/ns/pods/apod-0");
  EXPECT_FALSE(bounded.ok());
  EXPECT_TRUE(h.inner.calls.empty());
  EXPECT_EQ(h.api.refused(), 5u);
  EXPECT_EQ(h.refusals, 5);
}

TEST(LeaderFencedApi, ReadsAndWatchesPassWithoutLeadership) {
  FenceHarness h;
  h.leading = false;
  ASSERT_TRUE(h.api.request("GET", "/api/v1/nodes/node-1").ok());
  h.inner.streams.push_back({200, {"{}\n"}, "", ""});
  StreamCancel cancel;
  int pieces = 0;
  auto streamed = h.api.stream("/api/v1/pods?watch=1", [&](std::string_view) { return ++pieces > 0; }, cancel,
                               std::chrono::seconds(1));
  ASSERT_TRUE(streamed.ok());
  EXPECT_EQ(pieces, 1);
  EXPECT_EQ(h.api.refused(), 0u);
}

}  // namespace
}  // namespace ringlb::op
