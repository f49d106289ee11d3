// DockerClient, DockerEventWatcher and DockerRuntime's event handling against
// a scripted fake Engine (unix socket and 127.0.0.1).
#include "ringlb/operator/docker_client.h"
#include "ringlb/operator/docker_event_watcher.h"
#include "ringlb/operator/docker_runtime.h"
#include "ringlb/operator/docker_runtime_factory.h"

#include <gtest/gtest.h>

#include <condition_variable>

#include <nlohmann/json.hpp>

#include "fake_docker_engine.h"

namespace ringlb::op {
namespace {

using namespace std::chrono_literals;
using testing::FakeDockerEngine;
using testing::FakeReply;
using testing::FakeRequest;

DockerClient clientFor(const FakeDockerEngine& engine) {
  auto endpoint = parseDockerHost(engine.host());
  EXPECT_TRUE(endpoint.ok());
  return DockerClient(endpoint.value());
}

class DockerClientTransport : public ::testing::TestWithParam<bool> {};

TEST_P(DockerClientTransport, SendsVersionedRequestAndReadsAnswer) {
  FakeDockerEngine engine(GetParam(), [](const FakeRequest& r) {
    if (r.target == "/v1.41/containers/create?name=ringlb-a-0") return FakeReply::json(201, R"({"Id":"abc","Warnings":[]})");
    return FakeReply::json(404, R"({"message":"page not found"})");
  });
  const auto client = clientFor(engine);
  auto response = client.request("POST", "/containers/create?name=ringlb-a-0", R"({"Image":"x"})");
  ASSERT_TRUE(response.ok()) << response.error();
  EXPECT_EQ(response->status, 201U);
  EXPECT_EQ(response->body, R"({"Id":"abc","Warnings":[]})");
  const auto requests = engine.requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(requests[0].method, "POST");
  EXPECT_EQ(requests[0].body, R"({"Image":"x"})");

  response = client.request("GET", "/nope");
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 404U);
  EXPECT_EQ(response->message(), "page not found");
}

INSTANTIATE_TEST_SUITE_P(UnixAndTcp, DockerClientTransport, ::testing::Values(false, true));

TEST(DockerClient, UnreachableDaemonNamesTheEndpoint) {
  DockerEndpoint endpoint;
  endpoint.path = "/nonexistent/ringlb-test/docker.sock";
  const DockerClient client(endpoint);
  const auto started = std::chrono::steady_clock::now();
  const auto response = client.request("GET", "/_ping");
  ASSERT_FALSE(response.ok());
  EXPECT_NE(response.error().find("cannot connect to the Docker daemon at unix:///nonexistent/ringlb-test/docker.sock"),
            std::string::npos)
      << response.error();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

TEST(DockerClient, SilentDaemonTimesOut) {
  FakeDockerEngine engine(false, [](const FakeRequest&) {
    FakeReply reply;
    reply.neverAnswer = true;
    return reply;
  });
  const auto client = clientFor(engine);
  const auto started = std::chrono::steady_clock::now();
  const auto response = client.request("GET", "/containers/json", {}, 300ms);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(response.ok());
  EXPECT_NE(response.error().find("timed out"), std::string::npos) << response.error();
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
  engine.stop();
}

TEST(DockerClient, StreamDeliversEachPieceWhenItArrives) {
  FakeDockerEngine engine(false, [](const FakeRequest&) {
    return FakeReply::stream({"{\"a\":1}\n", "{\"b\":2}\n", "{\"c\":3}\n"}, 200ms, false);
  });
  const auto client = clientFor(engine);
  DockerStreamCancel cancel;
  std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> got;
  bool opened = false;
  const auto status = client.stream("/events", [&] { opened = true; },
                                    [&](std::string_view bytes) { got.emplace_back(bytes, std::chrono::steady_clock::now()); },
                                    cancel);
  ASSERT_FALSE(status.ok());  // the body ended: a watch is not supposed to end
  EXPECT_NE(status.error().find("closed the stream"), std::string::npos) << status.error();
  EXPECT_TRUE(opened);
  std::string all;
  for (const auto& [bytes, at] : got) all += bytes;
  EXPECT_EQ(all, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n");
  // Delivered as they came, not buffered until the end: the pieces are ~200 ms apart.
  ASSERT_GE(got.size(), 3U);
  EXPECT_GE(got.back().second - got.front().second, 300ms);
}

TEST(DockerClient, StreamErrorStatusIsAnError) {
  FakeDockerEngine engine(true, [](const FakeRequest&) { return FakeReply::json(500, R"({"message":"boom"})"); });
  DockerStreamCancel cancel;
  const auto status = clientFor(engine).stream("/events", {}, [](std::string_view) {}, cancel);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().find("answered 500"), std::string::npos) << status.error();
  EXPECT_NE(status.error().find("boom"), std::string::npos) << status.error();
}

TEST(DockerClient, CancelEndsAHeldStream) {
  FakeDockerEngine engine(false, [](const FakeRequest&) { return FakeReply::stream({"{}"}, 0ms, true); });
  const auto client = clientFor(engine);
  DockerStreamCancel cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel.cancel();
  });
  const auto started = std::chrono::steady_clock::now();
  const auto status = client.stream("/events", {}, [](std::string_view) {}, cancel);
  canceller.join();
  EXPECT_TRUE(status.ok()) << status.error();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  engine.stop();
}

// Collects what a watcher or runtime reports, for waiting on from the test thread.
template <class T>
class Inbox {
 public:
  void push(T value) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(std::move(value));
    }
    cv_.notify_all();
  }
  bool waitFor(std::size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return items_.size() >= count; });
  }
  std::vector<T> items() const {
    std::lock_guard lock(mutex_);
    return items_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<T> items_;
};

TEST(DockerEventWatcher, FiltersAreEncodedInTheTarget) {
  DockerEventWatcher watcher(DockerClient(DockerEndpoint{}), R"({"label":["ringlb.dev/ring"]})", 100ms, 1s, {});
  EXPECT_EQ(watcher.target(), "/events?filters=%7B%22label%22%3A%5B%22ringlb.dev%2Fring%22%5D%7D");
}

TEST(DockerEventWatcher, DeliversEventsSplitAcrossChunksAndReconnects) {
  std::atomic<int> calls{0};
  FakeDockerEngine engine(false, [&](const FakeRequest& r) {
    if (!r.target.starts_with("/v1.41/events?filters=")) return FakeReply::json(404, "{}");
    // First connection: one event split over three chunks, then the stream ends.
    // Later connections: one event and then held open.
    if (calls++ == 0) {
      return FakeReply::stream({R"({"Type":"container","Act)", R"(ion":"die","Actor":{"ID":"one"})", "}\n"}, 20ms, false);
    }
    return FakeReply::stream({R"({"Type":"container","Action":"destroy","Actor":{"ID":"two"}})" "\n"}, 0ms, true);
  });
  Inbox<DockerEvent> events;
  Inbox<std::string> errors;
  std::atomic<int> opens{0};
  DockerEventWatcher::Handlers handlers;
  handlers.onEvent = [&](const DockerEvent& e) { events.push(e); };
  handlers.onOpen = [&] { ++opens; };
  handlers.onError = [&](const std::string& m) { errors.push(m); };
  DockerEventWatcher watcher(clientFor(engine), "{}", 50ms, 200ms, handlers);
  watcher.start();
  ASSERT_TRUE(events.waitFor(2, 5s));
  watcher.stop();
  const auto got = events.items();
  EXPECT_EQ(got[0].action, "die");
  EXPECT_EQ(got[0].id, "one");
  EXPECT_EQ(got[1].action, "destroy");
  EXPECT_EQ(got[1].id, "two");
  EXPECT_EQ(opens.load(), 2);
  ASSERT_GE(errors.items().size(), 1U);
  EXPECT_NE(errors.items()[0].find("closed the stream"), std::string::npos);
  engine.stop();
}

TEST(DockerEventWatcher, DeadDaemonIsRetriedWithCappedBackoffNotABusyLoop) {
  FakeDockerEngine engine(false, [](const FakeRequest&) { return FakeReply::json(500, R"({"message":"down"})"); });
  Inbox<std::string> errors;
  DockerEventWatcher::Handlers handlers;
  handlers.onError = [&](const std::string& m) { errors.push(m); };
  DockerEventWatcher watcher(clientFor(engine), "{}", 20ms, 160ms, handlers);
  watcher.start();
  std::this_thread::sleep_for(1500ms);
  watcher.stop();
  // Waits 20+40+80+160+160+... ms: about 10 attempts in 1.5 s; a busy loop makes thousands.
  const int attempts = engine.connections();
  EXPECT_GE(attempts, 5);
  EXPECT_LE(attempts, 14);
  ASSERT_FALSE(errors.items().empty());
  EXPECT_NE(errors.items()[0].find("down"), std::string::npos);
  engine.stop();
}

TEST(DockerEventWatcher, StopReturnsPromptlyWhileHeld) {
  FakeDockerEngine engine(false, [](const FakeRequest&) { return FakeReply::stream({}, 0ms, true); });
  DockerEventWatcher watcher(clientFor(engine), "{}", 20ms, 160ms, {});
  watcher.start();
  std::this_thread::sleep_for(100ms);
  const auto started = std::chrono::steady_clock::now();
  watcher.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
  engine.stop();
}

std::string containerEvent(const std::string& action, const std::string& id, const std::string& extra = {}) {
  return R"({"Type":"container","Action":")" + action + R"(","Actor":{"ID":")" + id +
         R"(","Attributes":{"ringlb.dev/ring":"apod","ringlb.dev/slot":"apod-1")" + extra + "}}}\n";
}

TEST(DockerRuntimeEvents, MapsDieOomAndDestroy) {
  FakeDockerEngine engine(false, [&](const FakeRequest& r) {
    if (r.target.starts_with("/v1.41/events")) {
      return FakeReply::stream({containerEvent("start", "c1"), containerEvent("die", "c1", R"(,"exitCode":"137")"),
                                containerEvent("oom", "c2"), containerEvent("die", "c2", R"(,"exitCode":"137")"),
                                containerEvent("destroy", "c1"),
                                // Not ours: no ring label.
                                R"({"Type":"container","Action":"die","Actor":{"ID":"zz","Attributes":{}}})" "\n"},
                               10ms, true);
    }
    if (r.target.starts_with("/v1.41/containers/json")) return FakeReply::json(200, "[]");
    return FakeReply::json(404, "{}");
  });
  Inbox<RuntimeEvent> events;  // outlives the runtime, whose thread pushes into it
  DockerRuntime runtime(clientFor(engine), DockerRuntimeOptions{});
  runtime.onEvent([&](const RuntimeEvent& e) { events.push(e); });
  ASSERT_TRUE(events.waitFor(4, 5s));
  std::this_thread::sleep_for(100ms);  // the unlabelled one must not show up
  const auto got = events.items();
  ASSERT_EQ(got.size(), 4U);
  EXPECT_EQ(got[0].kind, RuntimeEvent::Kind::Started);
  EXPECT_EQ(got[1].kind, RuntimeEvent::Kind::Exited);
  EXPECT_EQ(got[1].reason, "exit code 137");
  EXPECT_EQ(got[1].ring, "apod");
  EXPECT_EQ(got[1].slot, "apod-1");
  EXPECT_EQ(got[1].runtimeId, "c1");
  EXPECT_EQ(got[2].kind, RuntimeEvent::Kind::Exited);
  EXPECT_EQ(got[2].reason, "oom-killed, exit code 137");
  EXPECT_EQ(got[2].runtimeId, "c2");
  EXPECT_EQ(got[3].kind, RuntimeEvent::Kind::Deleted);
  EXPECT_EQ(got[3].runtimeId, "c1");
  // The watch asks only for our labels and the four container actions.
  bool sawFilter = false;
  for (const auto& r : engine.requests()) {
    if (r.target.starts_with("/v1.41/events?filters=")) {
      sawFilter = r.target.find("ringlb.dev%2Fring") != std::string::npos && r.target.find("%22die%22") != std::string::npos &&
                  r.target.find("%22oom%22") != std::string::npos && r.target.find("%22destroy%22") != std::string::npos;
    }
  }
  EXPECT_TRUE(sawFilter);
}

TEST(DockerRuntimeEvents, AnEmptyHandlerDetaches) {
  FakeDockerEngine engine(false, [&](const FakeRequest& r) {
    if (r.target.starts_with("/v1.41/events")) {
      std::vector<std::string> pieces;
      for (int i = 0; i < 40; ++i) pieces.push_back(containerEvent("die", "c" + std::to_string(i), R"(,"exitCode":"1")"));
      return FakeReply::stream(pieces, 25ms, true);
    }
    if (r.target.starts_with("/v1.41/containers/json")) return FakeReply::json(200, "[]");
    return FakeReply::json(404, "{}");
  });
  std::atomic<int> calls{0};
  DockerRuntime runtime(clientFor(engine), DockerRuntimeOptions{});
  {
    Inbox<RuntimeEvent> events;
    runtime.onEvent([&](const RuntimeEvent& e) {
      ++calls;
      events.push(e);
    });
    ASSERT_TRUE(events.waitFor(2, 5s));
    // After this returns no call is running or will run: `events` may go.
    runtime.onEvent({});
  }
  const int seen = calls.load();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(calls.load(), seen);
}

TEST(DockerRuntimeErrors, UnreachableDaemonIsAClearError) {
  DockerEndpoint endpoint;
  endpoint.path = "/nonexistent/ringlb-test/docker.sock";
  DockerRuntime runtime{DockerClient(endpoint), DockerRuntimeOptions{}};
  ReplicaSpec spec;
  spec.ring = "apod";
  spec.slot = "apod-0";
  spec.templ.image = "ringlb/apod:0.1.0";
  const auto ensured = runtime.ensureRunning(spec);
  ASSERT_FALSE(ensured.ok());
  EXPECT_TRUE(ensured.error().starts_with("DaemonUnreachable: cannot connect to the Docker daemon at unix:///nonexistent"))
      << ensured.error();
  const auto listed = runtime.list();
  ASSERT_FALSE(listed.ok());
  EXPECT_TRUE(listed.error().starts_with("DaemonUnreachable:"));
  const auto stopped = runtime.stop("apod", "apod-0", 1s);
  ASSERT_FALSE(stopped.ok());
  EXPECT_TRUE(stopped.error().starts_with("DaemonUnreachable:"));
}

// --docker-timeout: a daemon that accepts and never answers (a blackholed TCP
// link) fails each call after the configured bound, not the 30 s default.
TEST(DockerRuntimeErrors, SilentDaemonFailsEachCallAfterTheConfiguredTimeout) {
  FakeDockerEngine engine(true, [](const FakeRequest&) {
    FakeReply reply;
    reply.neverAnswer = true;
    return reply;
  });
  DockerRuntimeOptions options;
  options.requestTimeout = 300ms;
  auto runtime = makeDockerRuntime(engine.host(), options);
  ASSERT_TRUE(runtime.ok()) << runtime.error();
  const auto started = std::chrono::steady_clock::now();
  const auto listed = runtime.value()->list();
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(listed.ok());
  EXPECT_TRUE(listed.error().starts_with("DaemonUnreachable: cannot read the answer of the Docker daemon at tcp://"))
      << listed.error();
  EXPECT_NE(listed.error().find("timed out"), std::string::npos) << listed.error();
  EXPECT_GE(took, 250ms);
  // Far below the 30 s default, so the option is what bounded it.
  EXPECT_LT(took, 15s);
}

TEST(DockerClient, TheClientsTimeoutBoundsRequestsThatNameNone) {
  FakeDockerEngine engine(false, [](const FakeRequest&) {
    FakeReply reply;
    reply.neverAnswer = true;
    return reply;
  });
  const DockerClient client(parseDockerHost(engine.host()).value(), 300ms);
  EXPECT_EQ(client.timeout(), 300ms);
  const auto started = std::chrono::steady_clock::now();
  const auto response = client.request("GET", "/containers/json");
  ASSERT_FALSE(response.ok());
  EXPECT_NE(response.error().find("timed out"), std::string::npos) << response.error();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 15s);
  EXPECT_EQ(DockerClient(DockerEndpoint{}).timeout(), DockerClient::kDefaultTimeout);
}

TEST(DockerRuntimeErrors, MissingImageAndForeignNameAreClearErrors) {
  FakeDockerEngine engine(false, [&](const FakeRequest& r) {
    if (r.target == "/v1.41/containers/ringlb-apod-0/json") return FakeReply::json(404, R"({"message":"No such container"})");
    if (r.target.starts_with("/v1.41/containers/create")) {
      return FakeReply::json(404, R"({"message":"No such image: ringlb/apod:9.9"})");
    }
    if (r.target == "/v1.41/containers/ringlb-apod-1/json") {
      return FakeReply::json(200, R"({"Id":"f00dfeedbeef0123","State":{"Running":true},"Config":{"Labels":{}}})");
    }
    return FakeReply::json(500, R"({"message":"unexpected"})");
  });
  DockerRuntime runtime(clientFor(engine), DockerRuntimeOptions{});
  ReplicaSpec spec;
  spec.ring = "apod";
  spec.slot = "apod-0";
  spec.templ.image = "ringlb/apod:9.9";
  auto ensured = runtime.ensureRunning(spec);
  ASSERT_FALSE(ensured.ok());
  EXPECT_TRUE(ensured.error().starts_with("ImageNotFound: image 'ringlb/apod:9.9'")) << ensured.error();
  spec.slot = "apod-1";
  ensured = runtime.ensureRunning(spec);
  ASSERT_FALSE(ensured.ok());
  EXPECT_TRUE(ensured.error().starts_with("NameConflict: container name 'ringlb-apod-1' is taken by container f00dfeedbeef"))
      << ensured.error();
  EXPECT_NE(ensured.error().find("ringlb does not manage"), std::string::npos);
}

TEST(DockerReplicaInfo, ReadsListRowsAndInspectAnswers) {
  const auto row = nlohmann::json::parse(R"({"Id":"abc","State":"exited","Status":"Exited (137) 2 seconds ago",
    "Labels":{"ringlb.dev/ring":"apod","ringlb.dev/slot":"apod-0","ringlb.dev/spec-hash":"h","ringlb.dev/address":"127.0.0.1:4000"}})");
  auto info = dockerReplicaInfo(row);
  EXPECT_EQ(info.runtimeId, "abc");
  EXPECT_EQ(info.ring, "apod");
  EXPECT_EQ(info.slot, "apod-0");
  EXPECT_EQ(info.specHash, "h");
  EXPECT_EQ(info.address, "127.0.0.1:4000");
  EXPECT_FALSE(info.running);
  EXPECT_EQ(info.reason, "exit code 137");
  const auto inspect = nlohmann::json::parse(R"({"Id":"def","State":{"Status":"exited","Running":false,"OOMKilled":true,"ExitCode":137},
    "Config":{"Labels":{"ringlb.dev/ring":"apod","ringlb.dev/slot":"apod-3"}}})");
  info = dockerReplicaInfo(inspect);
  EXPECT_EQ(info.slot, "apod-3");
  EXPECT_EQ(info.reason, "oom-killed, exit code 137");
  info = dockerReplicaInfo(nlohmann::json::parse(R"({"Id":"r","State":"running","Labels":{}})"));
  EXPECT_TRUE(info.running);
  EXPECT_TRUE(info.reason.empty());
}

}  // namespace
}  // namespace ringlb::op
