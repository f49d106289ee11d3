// DockerRuntime against a real dockerd and the ringlb/apod image
// (docker/build-local-images.sh). Label `docker`: fails, never skips, when
// no daemon answers.
#include "ringlb/base/percent_encoding.h"
#include "ringlb/operator/docker_client.h"
#include "ringlb/operator/docker_runtime.h"

// <utility> before Asio: Boost 1.74's awaitable.hpp misses it under GCC 12.
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <thread>

namespace ringlb::op {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
namespace asio = boost::asio;
namespace http = boost::beast::http;

const char* const kImage = "ringlb/apod:0.1.0";

DockerClient makeClient() {
  auto endpoint = dockerEndpointFromEnvironment();
  if (!endpoint.ok()) {
    ADD_FAILURE() << endpoint.error();
    return DockerClient(DockerEndpoint{});
  }
  return DockerClient(endpoint.value());
}

struct HttpAnswer {
  unsigned status = 0;
  std::string servedBy;
};

// One GET to host:port; status 0 when nothing answers.
HttpAnswer httpGet(const std::string& address, const std::string& target) {
  const auto colon = address.rfind(':');
  try {
    asio::io_context ctx;
    asio::ip::tcp::socket socket(ctx);
    socket.connect({asio::ip::make_address(address.substr(0, colon)),
                    static_cast<unsigned short>(std::stoi(address.substr(colon + 1)))});
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, address);
    req.set(http::field::connection, "close");
    http::write(socket, req);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(socket, buffer, res);
    return {res.result_int(), std::string(res[boost::beast::string_view("X-Served-By")])};
  } catch (const std::exception&) {
    return {};
  }
}

HttpAnswer waitForHealthy(const std::string& address, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  HttpAnswer answer;
  while (std::chrono::steady_clock::now() < deadline) {
    answer = httpGet(address, "/healthz");
    if (answer.status == 200) return answer;
    std::this_thread::sleep_for(50ms);
  }
  return answer;
}

class EventInbox {
 public:
  void push(const RuntimeEvent& event) {
    {
      std::lock_guard lock(mutex_);
      events_.push_back({event, std::chrono::steady_clock::now()});
    }
    cv_.notify_all();
  }
  // The first event matching `pred`, with the time it arrived.
  std::optional<std::pair<RuntimeEvent, std::chrono::steady_clock::time_point>> waitFor(
      const std::function<bool(const RuntimeEvent&)>& pred, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::optional<std::pair<RuntimeEvent, std::chrono::steady_clock::time_point>> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& e : events_) {
        if (pred(e.first)) {
          found = e;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::vector<RuntimeEvent> all() const {
    std::lock_guard lock(mutex_);
    std::vector<RuntimeEvent> out;
    for (const auto& e : events_) out.push_back(e.first);
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::pair<RuntimeEvent, std::chrono::steady_clock::time_point>> events_;
};

class DockerRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ping = client_.request("GET", "/_ping", {}, 5s);
    ASSERT_TRUE(ping.ok() && ping->ok())
        << "no Docker daemon answers at " << client_.endpoint().describe() << " ("
        << (ping.ok() ? ping->message() : ping.error())
        << "). Start one (scripts/lib/dockerd.sh: dockerd_ensure) or leave these out with ctest -LE docker";
    auto image = client_.request("GET", std::string("/images/") + kImage + "/json");
    ASSERT_TRUE(image.ok() && image->status == 200)
        << kImage << " is not on the Docker host: run docker/build-local-images.sh --only apod";
    ring_ = "rt" + std::to_string(::getpid()) + "x" + std::to_string(counter_++);
    runtime_ = std::make_unique<DockerRuntime>(client_, options_);
    runtime_->onEvent([this](const RuntimeEvent& e) { inbox_.push(e); });
  }

  void TearDown() override {
    runtime_.reset();
    // Leave nothing behind, whatever the test did.
    Json filters;
    filters["label"] = {"ringlb.dev/ring=" + ring_};
    auto listed = client_.request("GET", "/containers/json?all=1&filters=" + percentEncode(filters.dump()));
    if (listed.ok() && listed->ok()) {
      for (const auto& c : Json::parse(listed->body)) {
        (void)client_.request("DELETE", "/containers/" + c["Id"].get<std::string>() + "?force=1");
      }
    }
    for (const auto& name : extraContainers_) (void)client_.request("DELETE", "/containers/" + name + "?force=1");
  }

  ReplicaSpec spec(std::uint32_t ordinal, const std::string& hash = "hash-a") const {
    ReplicaSpec s;
    s.ring = ring_;
    s.slot = slotId(ring_, ordinal);
    s.ordinal = ordinal;
    s.specHash = hash;
    s.templ.image = kImage;
    s.templ.args = {"--port", "$(PORT)", "--listen-address", "127.0.0.1"};
    s.templ.env = {{"RINGLB_TEST", "yes"}};
    return s;
  }

  Json inspect(const std::string& id) {
    auto r = client_.request("GET", "/containers/" + id + "/json");
    if (!r.ok() || r->status != 200) return Json();
    return Json::parse(r->body);
  }

  static inline int counter_ = 0;
  DockerClient client_ = makeClient();
  DockerRuntimeOptions options_;
  std::string ring_;
  std::unique_ptr<DockerRuntime> runtime_;
  EventInbox inbox_;
  std::vector<std::string> extraContainers_;
};

TEST_F(DockerRuntimeTest, StartsALabelledContainerThatServesOnItsAssignedPort) {
  auto s = spec(0);
  s.templ.memoryBytes = 128U * 1024U * 1024U;
  s.templ.cpus = 0.5;
  const auto info = runtime_->ensureRunning(s);
  ASSERT_TRUE(info.ok()) << info.error();
  EXPECT_TRUE(info->running);
  EXPECT_EQ(info->slot, s.slot);
  EXPECT_TRUE(info->address.starts_with("127.0.0.1:")) << info->address;

  const Json c = inspect(info->runtimeId);
  ASSERT_TRUE(c.is_object());
  EXPECT_EQ(c["Name"], "/ringlb-" + s.slot);
  const auto& labels = c["Config"]["Labels"];
  EXPECT_EQ(labels["ringlb.dev/ring"], ring_);
  EXPECT_EQ(labels["ringlb.dev/slot"], s.slot);
  EXPECT_EQ(labels["ringlb.dev/version"], "0.1.0");
  EXPECT_EQ(labels["ringlb.dev/spec-hash"], "hash-a");
  EXPECT_EQ(c["HostConfig"]["RestartPolicy"]["Name"], "no");
  EXPECT_EQ(c["HostConfig"]["NetworkMode"], "host");
  EXPECT_EQ(c["HostConfig"]["Memory"], 128 * 1024 * 1024);
  EXPECT_EQ(c["HostConfig"]["NanoCpus"], 500000000);
  const std::string port = info->address.substr(info->address.rfind(':') + 1);
  const auto& env = c["Config"]["Env"];
  EXPECT_NE(std::find(env.begin(), env.end(), "PORT=" + port), env.end()) << env.dump();
  EXPECT_NE(std::find(env.begin(), env.end(), "RINGLB_SLOT=" + s.slot), env.end()) << env.dump();
  EXPECT_NE(std::find(env.begin(), env.end(), "RINGLB_TEST=yes"), env.end()) << env.dump();
  EXPECT_EQ(c["Config"]["Cmd"], Json({"--port", port, "--listen-address", "127.0.0.1"}));

  const auto answer = waitForHealthy(info->address, 10s);
  EXPECT_EQ(answer.status, 200U) << "no /healthz answer from " << info->address;
  EXPECT_EQ(answer.servedBy, s.slot);

  const auto listed = runtime_->list();
  ASSERT_TRUE(listed.ok()) << listed.error();
  const auto mine = std::find_if(listed->begin(), listed->end(), [&](const ReplicaInfo& r) { return r.slot == s.slot; });
  ASSERT_NE(mine, listed->end());
  EXPECT_EQ(mine->runtimeId, info->runtimeId);
  EXPECT_EQ(mine->address, info->address);
  EXPECT_EQ(mine->specHash, "hash-a");
  EXPECT_TRUE(mine->running);
}

TEST_F(DockerRuntimeTest, ANewRuntimeAdoptsRunningContainersWithoutRestarting) {
  const auto first = runtime_->ensureRunning(spec(0));
  ASSERT_TRUE(first.ok()) << first.error();
  const std::string startedAt = inspect(first->runtimeId)["State"]["StartedAt"];

  // As after an operator restart: a fresh runtime, list, then ensure the same spec.
  DockerRuntime restarted(client_, options_);
  const auto listed = restarted.list();
  ASSERT_TRUE(listed.ok()) << listed.error();
  ASSERT_EQ(std::count_if(listed->begin(), listed->end(), [&](const ReplicaInfo& r) { return r.ring == ring_; }), 1);
  const auto again = restarted.ensureRunning(spec(0));
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_EQ(again->runtimeId, first->runtimeId);
  EXPECT_EQ(again->address, first->address);
  const Json c = inspect(first->runtimeId);
  EXPECT_EQ(c["State"]["StartedAt"], startedAt);
  EXPECT_EQ(c["RestartCount"], 0);
  EXPECT_TRUE(c["State"]["Running"].get<bool>());
}

TEST_F(DockerRuntimeTest, ADifferentSpecHashReplacesTheContainer) {
  const auto first = runtime_->ensureRunning(spec(0, "hash-a"));
  ASSERT_TRUE(first.ok()) << first.error();
  auto changed = spec(0, "hash-b");
  changed.templ.env = {{"RINGLB_TEST", "changed"}};
  const auto second = runtime_->ensureRunning(changed);
  ASSERT_TRUE(second.ok()) << second.error();
  EXPECT_NE(second->runtimeId, first->runtimeId);
  EXPECT_TRUE(inspect(first->runtimeId).is_null()) << "the old container must be removed";
  const Json c = inspect(second->runtimeId);
  EXPECT_EQ(c["Config"]["Labels"]["ringlb.dev/spec-hash"], "hash-b");
  const auto& env = c["Config"]["Env"];
  EXPECT_NE(std::find(env.begin(), env.end(), "RINGLB_TEST=changed"), env.end());
  EXPECT_EQ(waitForHealthy(second->address, 10s).status, 200U);
  // The replacement is the runtime's own doing: no Exited event for the old one.
  std::this_thread::sleep_for(300ms);
  for (const auto& e : inbox_.all()) {
    EXPECT_FALSE(e.kind == RuntimeEvent::Kind::Exited && e.runtimeId == first->runtimeId) << e.reason;
  }
}

TEST_F(DockerRuntimeTest, KillIsReportedFromTheEventStreamWithinOneSecond) {
  const auto info = runtime_->ensureRunning(spec(1));
  ASSERT_TRUE(info.ok()) << info.error();
  ASSERT_EQ(waitForHealthy(info->address, 10s).status, 200U);
  const auto killedAt = std::chrono::steady_clock::now();
  auto killed = client_.request("POST", "/containers/" + info->runtimeId + "/kill?signal=KILL");
  ASSERT_TRUE(killed.ok() && killed->status == 204) << (killed.ok() ? killed->message() : killed.error());
  const auto exited = inbox_.waitFor(
      [&](const RuntimeEvent& e) { return e.kind == RuntimeEvent::Kind::Exited && e.runtimeId == info->runtimeId; }, 5s);
  ASSERT_TRUE(exited.has_value()) << "no Exited event after docker kill";
  const auto latency = std::chrono::duration_cast<std::chrono::milliseconds>(exited->second - killedAt);
  std::printf("[ figure ] kill -> Exited event: %lld ms\n", static_cast<long long>(latency.count()));
  EXPECT_LT(latency, 1000ms);
  EXPECT_EQ(exited->first.reason, "exit code 137");
  EXPECT_EQ(exited->first.ring, ring_);
  EXPECT_EQ(exited->first.slot, spec(1).slot);

  // The runtime reports the dead container and replaces it on the next ensure.
  const auto listed = runtime_->list();
  ASSERT_TRUE(listed.ok());
  const auto dead = std::find_if(listed->begin(), listed->end(), [&](const ReplicaInfo& r) { return r.runtimeId == info->runtimeId; });
  ASSERT_NE(dead, listed->end());
  EXPECT_FALSE(dead->running);
  EXPECT_EQ(dead->reason, "exit code 137");
  const auto replaced = runtime_->ensureRunning(spec(1));
  ASSERT_TRUE(replaced.ok()) << replaced.error();
  EXPECT_NE(replaced->runtimeId, info->runtimeId);
  EXPECT_EQ(waitForHealthy(replaced->address, 10s).servedBy, spec(1).slot);
}

TEST_F(DockerRuntimeTest, StopRemovesTheContainerQuietly) {
  const auto info = runtime_->ensureRunning(spec(2));
  ASSERT_TRUE(info.ok()) << info.error();
  const auto status = runtime_->stop(ring_, spec(2).slot, 2s);
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_TRUE(inspect(info->runtimeId).is_null());
  EXPECT_TRUE(runtime_->stop(ring_, spec(2).slot, 2s).ok()) << "stopping an empty slot succeeds";
  std::this_thread::sleep_for(300ms);
  for (const auto& e : inbox_.all()) {
    EXPECT_FALSE(e.runtimeId == info->runtimeId && e.kind != RuntimeEvent::Kind::Started)
        << "a stop the runtime made is not a failure, got reason " << e.reason;
  }
}

TEST_F(DockerRuntimeTest, MissingImageIsAClearErrorAndLeavesNothing) {
  auto s = spec(0);
  s.templ.image = "ringlb/does-not-exist:0.0.0";
  const auto info = runtime_->ensureRunning(s);
  ASSERT_FALSE(info.ok());
  EXPECT_TRUE(info.error().starts_with("ImageNotFound: image 'ringlb/does-not-exist:0.0.0'")) << info.error();
  EXPECT_TRUE(inspect("ringlb-" + s.slot).is_null());
}

TEST_F(DockerRuntimeTest, AForeignContainerWithOurNameIsANameConflict) {
  auto s = spec(0);
  const std::string name = "ringlb-" + s.slot;
  extraContainers_.push_back(name);
  auto created = client_.request("POST", "/containers/create?name=" + name,
                                 Json({{"Image", kImage}, {"HostConfig", {{"NetworkMode", "none"}}}}).dump());
  ASSERT_TRUE(created.ok() && created->status == 201) << (created.ok() ? created->message() : created.error());
  const auto info = runtime_->ensureRunning(s);
  ASSERT_FALSE(info.ok());
  EXPECT_TRUE(info.error().starts_with("NameConflict: container name '" + name + "' is taken")) << info.error();
  EXPECT_FALSE(inspect(name).is_null()) << "a container ringlb does not manage is never removed";
}

TEST_F(DockerRuntimeTest, AContainerThatCannotStartIsReportedAndRemoved) {
  auto s = spec(0);
  s.templ.command = {"/no/such/binary"};
  const auto info = runtime_->ensureRunning(s);
  ASSERT_FALSE(info.ok());
  EXPECT_TRUE(info.error().starts_with("ContainerStartFailed: container ringlb-" + s.slot)) << info.error();
  EXPECT_TRUE(inspect("ringlb-" + s.slot).is_null());
}

TEST_F(DockerRuntimeTest, SlotsGetDistinctPorts) {
  std::set<std::string> addresses;
  for (std::uint32_t i = 0; i < 3; ++i) {
    const auto info = runtime_->ensureRunning(spec(i));
    ASSERT_TRUE(info.ok()) << info.error();
    addresses.insert(info->address);
  }
  EXPECT_EQ(addresses.size(), 3U);
  int healthy = 0;
  for (const auto& address : addresses) healthy += waitForHealthy(address, 10s).status == 200 ? 1 : 0;
  EXPECT_EQ(healthy, 3);
}

}  // namespace
}  // namespace ringlb::op
