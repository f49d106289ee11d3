#include "ringlb/operator/kubernetes_list_watcher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "fake_kubernetes_api.h"

namespace ringlb::op {
namespace {

using nlohmann::json;
using testing::FakeKubernetesApi;

json ring(const std::string& name, const std::string& rv, int replicas = 1) {
  return {{"apiVersion", "ringlb.dev/v1alpha1"},
          {"kind", "HashRing"},
          {"metadata", {{"name", name}, {"namespace", "default"}, {"resourceVersion", rv}}},
          {"spec", {{"replicas", replicas}}}};
}

std::string line(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump() + "\n";
}

struct Recorded {
  ListWatcher::EventType type;
  std::string key;
  std::string rv;
};

struct Harness {
  FakeKubernetesApi api;
  std::vector<Recorded> events;
  std::atomic<int> eventCount{0};
  int synced = 0;
  std::vector<std::string> errors;
  std::unique_ptr<ListWatcher> watcher;
  std::map<std::string, std::vector<json>> lists;  // list answers by continue token ("" first)
  std::string listVersion = "100";

  Harness() {
    api.onRequest = [this](const FakeKubernetesApi::Call& call) -> Result<ApiResponse> {
      const auto pos = call.target.find("continue=");
      const std::string token = pos == std::string::npos ? "" : call.target.substr(pos + 9);
      json page = {{"kind", "HashRingList"}, {"metadata", {{"resourceVersion", listVersion}}}, {"items", json::array()}};
      for (const auto& item : lists[token]) page["items"].push_back(item);
      if (token.empty() && lists.contains("p2")) page["metadata"]["continue"] = "p2";
      return ApiResponse{200, page.dump(), "application/json"};
    };
    ListWatchOptions options;
    options.path = "/apis/ringlb.dev/v1alpha1/hashrings";
    options.labelSelector = "team=a";
    options.pageSize = 2;
    ListWatcher::Handler handler;
    handler.onEvent = [this](ListWatcher::EventType type, const json& object) {
      events.push_back({type, ListWatcher::keyOf(object), object["metadata"].value("resourceVersion", "")});
      ++eventCount;
    };
    handler.onSynced = [this] { ++synced; };
    handler.onError = [this](const std::string& error) { errors.push_back(error); };
    watcher = std::make_unique<ListWatcher>(api, options, handler, /*seed=*/7);
  }
};

TEST(ListWatcher, ListsAllPagesThenWatchesFromTheListVersion) {
  Harness h;
  h.lists[""] = {ring("a", "90"), ring("b", "91")};
  h.lists["p2"] = {ring("c", "92")};
  ASSERT_TRUE(h.watcher->relist().ok());
  ASSERT_EQ(h.events.size(), 3u);
  EXPECT_EQ(h.events[2].key, "default/c");
  EXPECT_EQ(h.synced, 1);
  EXPECT_EQ(h.watcher->resourceVersion(), "100");
  const auto calls = h.api.callsWith("GET");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].target, "/apis/ringlb.dev/v1alpha1/hashrings?limit=2&labelSelector=team%3Da");
  EXPECT_EQ(calls[1].target, "/apis/ringlb.dev/v1alpha1/hashrings?limit=2&labelSelector=team%3Da&continue=p2");

  h.api.streams.push_back({200, {line("ADDED", ring("d", "101"))}, "", ""});
  ASSERT_TRUE(h.watcher->watchOnce().ok());
  ASSERT_EQ(h.api.streamTargets.size(), 1u);
  const std::string& target = h.api.streamTargets[0];
  EXPECT_EQ(target.rfind("/apis/ringlb.dev/v1alpha1/hashrings?watch=1&resourceVersion=100&allowWatchBookmarks=true&timeoutSeconds=", 0), 0u);
  const int timeout = std::stoi(target.substr(target.find("timeoutSeconds=") + 15));
  EXPECT_GE(timeout, 300);
  EXPECT_LE(timeout, 600);
  EXPECT_NE(target.find("&labelSelector=team%3Da"), std::string::npos);
}

TEST(ListWatcher, WatchEventsUpdateTheCacheAndBookmarksOnlyMoveTheVersion) {
  Harness h;
  h.lists[""] = {ring("a", "90")};
  ASSERT_TRUE(h.watcher->relist().ok());
  h.events.clear();
  const std::string stream = line("MODIFIED", ring("a", "101", 3)) + line("ADDED", ring("b", "102")) +
                             line("BOOKMARK", {{"kind", "HashRing"}, {"metadata", {{"resourceVersion", "150"}}}}) +
                             line("DELETED", ring("a", "160"));
  // Split mid-object across three chunks.
  h.api.streams.push_back({200, {stream.substr(0, 37), stream.substr(37, 100), stream.substr(137)}, "", ""});
  auto end = h.watcher->watchOnce();
  ASSERT_TRUE(end.ok()) << end.error();
  EXPECT_EQ(end.value(), ListWatcher::WatchEnd::Clean);
  ASSERT_EQ(h.events.size(), 3u);  // the bookmark emits nothing
  EXPECT_EQ(h.events[0].type, ListWatcher::EventType::Modified);
  EXPECT_EQ(h.events[1].type, ListWatcher::EventType::Added);
  EXPECT_EQ(h.events[2].type, ListWatcher::EventType::Deleted);
  EXPECT_EQ(h.watcher->resourceVersion(), "160");
  EXPECT_FALSE(h.watcher->get("default/a").has_value());
  EXPECT_EQ(h.watcher->get("default/b").value()["metadata"]["resourceVersion"], "102");

  // A clean end re-watches from the last version, not from the list.
  h.api.streams.push_back({200, {line("BOOKMARK", {{"metadata", {{"resourceVersion", "170"}}}})}, "", ""});
  ASSERT_TRUE(h.watcher->watchOnce().ok());
  EXPECT_NE(h.api.streamTargets[1].find("resourceVersion=160&"), std::string::npos);
  EXPECT_EQ(h.watcher->resourceVersion(), "170");
}

TEST(ListWatcher, GoneInStreamRelistsAndEmitsWhatChangedMeanwhile) {
  Harness h;
  h.lists[""] = {ring("a", "90"), ring("b", "91"), ring("c", "92")};
  ASSERT_TRUE(h.watcher->relist().ok());
  h.events.clear();
  h.api.streams.push_back(
      {200,
       {line("MODIFIED", ring("a", "101", 2)),
        line("ERROR", {{"kind", "Status"}, {"code", 410}, {"reason", "Expired"}, {"message", "too old"}}),
        line("ADDED", ring("never", "999"))},
       "",
       ""});
  auto end = h.watcher->watchOnce();
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end.value(), ListWatcher::WatchEnd::Gone);
  ASSERT_EQ(h.events.size(), 1u);  // nothing after the ERROR is applied
  h.events.clear();

  // While the watch was down: b changed, c was deleted, d was created; a is as last seen.
  h.lists[""] = {ring("a", "101", 2), ring("b", "140", 5), ring("d", "141")};
  h.listVersion = "150";
  ASSERT_TRUE(h.watcher->relist().ok());
  ASSERT_EQ(h.events.size(), 3u);
  EXPECT_EQ(h.events[0].key, "default/b");
  EXPECT_EQ(h.events[0].type, ListWatcher::EventType::Modified);
  EXPECT_EQ(h.events[1].key, "default/c");
  EXPECT_EQ(h.events[1].type, ListWatcher::EventType::Deleted);
  EXPECT_EQ(h.events[2].key, "default/d");
  EXPECT_EQ(h.events[2].type, ListWatcher::EventType::Added);
  EXPECT_EQ(h.synced, 1);  // synced fires once
  EXPECT_EQ(h.watcher->resourceVersion(), "150");
}

TEST(ListWatcher, GoneAsHttpStatus) {
  Harness h;
  ASSERT_TRUE(h.watcher->relist().ok());
  h.api.streams.push_back({410, {}, R"({"kind":"Status","code":410})", ""});
  auto end = h.watcher->watchOnce();
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end.value(), ListWatcher::WatchEnd::Gone);
}

TEST(ListWatcher, ErrorsAreReportedWithContext) {
  Harness h;
  ASSERT_TRUE(h.watcher->relist().ok());
  h.api.streams.push_back({500, {}, R"({"kind":"Status","code":500,"message":"etcd is sad"})", ""});
  auto end = h.watcher->watchOnce();
  ASSERT_FALSE(end.ok());
  EXPECT_NE(end.error().find("etcd is sad"), std::string::npos);
  h.api.streams.push_back({200, {"{garbage\n"}, "", ""});
  end = h.watcher->watchOnce();
  ASSERT_FALSE(end.ok());
  EXPECT_NE(end.error().find("not a JSON object"), std::string::npos);
  // An ERROR event other than 410 ends the watch as refused (the run loop relists), and is reported.
  h.api.streams.push_back({200, {line("ERROR", {{"kind", "Status"}, {"code", 500}, {"message", "internal"}})}, "", ""});
  end = h.watcher->watchOnce();
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end.value(), ListWatcher::WatchEnd::Refused);
  ASSERT_FALSE(h.errors.empty());
  EXPECT_NE(h.errors.back().find("ERROR event 500: internal"), std::string::npos) << h.errors.back();
  h.api.streams.push_back({200, {}, "", "no data for 120000 ms"});
  end = h.watcher->watchOnce();
  ASSERT_FALSE(end.ok());
  EXPECT_NE(end.error().find("no data"), std::string::npos);
}

TEST(ListWatcher, ExpiredContinueTokenRestartsTheList) {
  Harness h;
  int listCalls = 0;
  h.api.onRequest = [&](const FakeKubernetesApi::Call& call) -> Result<ApiResponse> {
    ++listCalls;
    if (call.target.find("continue=") != std::string::npos && listCalls == 2) {
      return ApiResponse{410, R"({"kind":"Status","code":410})", ""};
    }
    json page = {{"metadata", {{"resourceVersion", "7"}}}, {"items", json::array({ring("a", "5")})}};
    if (call.target.find("continue=") == std::string::npos && listCalls == 1) page["metadata"]["continue"] = "x";
    return ApiResponse{200, page.dump(), ""};
  };
  ASSERT_TRUE(h.watcher->relist().ok());
  EXPECT_EQ(listCalls, 3);
  EXPECT_EQ(h.watcher->resourceVersion(), "7");
}

TEST(ListWatcher, RunLoopRelistsAfterGoneWithoutLosingEvents) {
  Harness h;
  h.lists[""] = {ring("a", "90")};
  h.api.streams.push_back({410, {}, "{}", ""});
  std::atomic<int> relisted{0};
  // After the first list, the second list shows a new object created during the outage.
  h.api.onRequest = [&](const FakeKubernetesApi::Call&) -> Result<ApiResponse> {
    const int n = ++relisted;
    json page = {{"metadata", {{"resourceVersion", n == 1 ? "100" : "200"}}}, {"items", json::array({ring("a", "90")})}};
    if (n >= 2) page["items"].push_back(ring("b", "150"));
    return ApiResponse{200, page.dump(), ""};
  };
  h.watcher->start();
  for (int i = 0; i < 200 && h.eventCount.load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  h.watcher->stop();
  ASSERT_GE(h.events.size(), 2u);
  EXPECT_EQ(h.events[1].key, "default/b");
  EXPECT_EQ(h.events[1].type, ListWatcher::EventType::Added);
  EXPECT_GE(relisted.load(), 2);
}

// etcd answers a watch just below its compaction revision with an in-stream 500, not 410: watching
// again from the same version would get the same answer forever, so the loop relists.
TEST(ListWatcher, RunLoopRelistsAfterAnErrorEventOtherThanGone) {
  Harness h;
  h.api.streams.push_back(
      {200, {line("ERROR", {{"kind", "Status"}, {"code", 500}, {"message", "etcd event received with PrevKv=nil"}})},
       "", ""});
  std::atomic<int> lists{0};
  h.api.onRequest = [&](const FakeKubernetesApi::Call&) -> Result<ApiResponse> {
    const int n = ++lists;
    json page = {{"metadata", {{"resourceVersion", n == 1 ? "100" : "200"}}}, {"items", json::array({ring("a", "90")})}};
    if (n >= 2) page["items"].push_back(ring("b", "150"));
    return ApiResponse{200, page.dump(), ""};
  };
  h.watcher->start();
  for (int i = 0; i < 500 && h.eventCount.load() < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  h.watcher->stop();
  ASSERT_GE(h.events.size(), 2u);
  EXPECT_EQ(h.events[1].key, "default/b");
  EXPECT_GE(lists.load(), 2);
}

}  // namespace
}  // namespace ringlb::op
