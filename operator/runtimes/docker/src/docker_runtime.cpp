#include "ringlb/base/percent_encoding.h"
#include "ringlb/operator/docker_runtime.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <nlohmann/json.hpp>

#include "ringlb/operator/docker_container_config.h"

namespace ringlb::op {

namespace {

using Json = nlohmann::json;

// Forgotten expected-stop records: a destroy event never came (daemon gone).
constexpr auto kExpectedGoneTtl = std::chrono::minutes(5);

std::string label(const Json& labels, std::string_view key) {
  if (!labels.is_object()) return {};
  const auto it = labels.find(std::string(key));
  return it != labels.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string shortId(const std::string& id) { return id.substr(0, 12); }

// The port of "host:port", or 0.
std::uint16_t hostPortOf(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return 0;
  const int port = std::atoi(address.c_str() + colon + 1);
  return port > 0 && port < 65536 ? static_cast<std::uint16_t>(port) : 0;
}

std::string labelFilter(const std::vector<std::string>& labels) {
  Json filters;
  filters["label"] = labels;
  return percentEncode(filters.dump());
}

}  // namespace

ReplicaInfo dockerReplicaInfo(const Json& container) {
  ReplicaInfo info;
  info.runtimeId = container.value("Id", std::string());
  const Json* labels = nullptr;
  if (const auto config = container.find("Config"); config != container.end() && config->is_object()) {
    if (const auto it = config->find("Labels"); it != config->end()) labels = &*it;
  } else if (const auto it = container.find("Labels"); it != container.end()) {
    labels = &*it;
  }
  if (labels != nullptr) {
    info.ring = label(*labels, docker_labels::kRing);
    info.slot = label(*labels, docker_labels::kSlot);
    info.specHash = label(*labels, docker_labels::kSpecHash);
    info.address = label(*labels, docker_labels::kAddress);
  }
  const auto state = container.find("State");
  if (state != container.end() && state->is_object()) {  // inspect
    info.running = state->value("Running", false);
    if (!info.running) {
      const std::string status = state->value("Status", std::string("unknown"));
      if (state->value("OOMKilled", false)) {
        info.reason = "oom-killed, exit code " + std::to_string(state->value("ExitCode", 0));
      } else if (status == "exited") {
        info.reason = "exit code " + std::to_string(state->value("ExitCode", 0));
      } else {
        info.reason = status;
      }
    }
  } else if (state != container.end() && state->is_string()) {  // list
    info.running = state->get<std::string>() == "running";
    if (!info.running) {
      // "Exited (137) 3 seconds ago" -> "exit code 137"
      const std::string status = container.value("Status", state->get<std::string>());
      const auto open = status.find('(');
      const auto close = status.find(')');
      if (status.starts_with("Exited") && open != std::string::npos && close != std::string::npos && close > open) {
        info.reason = "exit code " + status.substr(open + 1, close - open - 1);
      } else {
        info.reason = state->get<std::string>();
      }
    }
  }
  return info;
}

DockerRuntime::DockerRuntime(DockerClient client, DockerRuntimeOptions options)
    : client_(std::move(client)), options_(std::move(options)) {}

DockerRuntime::~DockerRuntime() { shutdown(); }

void DockerRuntime::shutdown() {
  if (watcher_) watcher_->stop();
}

Error DockerRuntime::unreachable(const Error& error) const { return error.withContext("DaemonUnreachable"); }

std::mutex& DockerRuntime::slotMutex(const std::string& slot) {
  std::lock_guard lock(slotsMutex_);
  auto& entry = slotMutexes_[slot];
  if (!entry) entry = std::make_unique<std::mutex>();
  return *entry;
}

std::uint16_t DockerRuntime::allocatePort() {
  // Ask the kernel for a free port on the host address, then keep it reserved
  // until the container is gone: a container that has not bound it yet must
  // not share it with the next one we start.
  for (int attempt = 0; attempt < 64; ++attempt) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    if (::inet_pton(AF_INET, options_.hostAddress.c_str(), &addr.sin_addr) != 1) {
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    std::uint16_t port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      socklen_t len = sizeof addr;
      if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) port = ntohs(addr.sin_port);
    }
    ::close(fd);
    if (port == 0) return 0;
    std::lock_guard lock(stateMutex_);
    if (reservedPorts_.insert(port).second) return port;
  }
  return 0;
}

void DockerRuntime::releasePort(std::uint16_t port) {
  std::lock_guard lock(stateMutex_);
  reservedPorts_.erase(port);
}

void DockerRuntime::expectGone(const std::string& id) {
  std::lock_guard lock(stateMutex_);
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(expectedGone_, [&](const auto& entry) { return now - entry.second > kExpectedGoneTtl; });
  expectedGone_[id] = now;
}

bool DockerRuntime::wasExpected(const std::string& id, bool forget) {
  std::lock_guard lock(stateMutex_);
  const auto it = expectedGone_.find(id);
  if (it == expectedGone_.end()) return false;
  if (forget) expectedGone_.erase(it);
  return true;
}

void DockerRuntime::track(const std::string& slot, Tracked tracked) {
  std::lock_guard lock(stateMutex_);
  tracked_[slot] = std::move(tracked);
}

Status DockerRuntime::removeContainer(const std::string& id, std::chrono::seconds grace) {
  expectGone(id);
  // The daemon waits `grace` before it answers: the request's bound comes on top.
  auto stopped = client_.request("POST", "/containers/" + id + "/stop?t=" + std::to_string(grace.count()), {},
                                 std::chrono::duration_cast<std::chrono::milliseconds>(grace) + client_.timeout());
  if (!stopped.ok()) return unreachable(stopped.failure());
  // 204 stopped, 304 already stopped, 404 already gone.
  if (!stopped->ok() && stopped->status != 304 && stopped->status != 404) {
    return stopped->error("DockerApiError: stopping container " + shortId(id));
  }
  auto removed = client_.request("DELETE", "/containers/" + id + "?force=1&v=1");
  if (!removed.ok()) return unreachable(removed.failure());
  // 409: removal already in progress, which is what we want.
  if (!removed->ok() && removed->status != 404 && removed->status != 409) {
    return removed->error("DockerApiError: removing container " + shortId(id));
  }
  return ok();
}

Result<ReplicaInfo> DockerRuntime::ensureRunning(const ReplicaSpec& spec) {
  ignoredFields_.check(spec);
  std::lock_guard slotLock(slotMutex(spec.slot));
  const std::string name = dockerContainerName(spec);
  auto inspected = client_.request("GET", "/containers/" + name + "/json");
  if (!inspected.ok()) return unreachable(inspected.failure());
  if (inspected->status == 200) {
    const Json container = Json::parse(inspected->body, nullptr, false);
    if (!container.is_object()) {
      return Error::unavailable("DockerApiError: inspecting container " + name + ": the answer is not JSON");
    }
    ReplicaInfo existing = dockerReplicaInfo(container);
    if (existing.ring != spec.ring || existing.slot != spec.slot) {
      return Error::conflict("NameConflict: container name '" + name + "' is taken by container " +
                   shortId(existing.runtimeId) +
                   (existing.ring.empty() ? std::string(", which ringlb does not manage")
                                          : ", labelled for slot '" + existing.slot + "' of ring '" + existing.ring + "'") +
                   "; remove or rename it (docker rm -f " + name + ")");
    }
    if (existing.running && existing.specHash == spec.specHash) {
      track(spec.slot, Tracked{spec.ring, existing.runtimeId});
      if (const auto port = hostPortOf(existing.address); options_.network.empty() && port != 0) {
        // Adopted after an operator restart: keep its port out of new assignments.
        std::lock_guard lock(stateMutex_);
        reservedPorts_.insert(port);
      }
      return existing;
    }
    // Another spec, or no longer running: the slot gets a fresh container.
    const auto grace = existing.running ? options_.replaceGrace : std::chrono::seconds(0);
    if (auto removed = removeContainer(existing.runtimeId, grace); !removed.ok()) return removed.failure();
    if (options_.network.empty()) releasePort(hostPortOf(existing.address));
  } else if (inspected->status != 404) {
    return inspected->error("DockerApiError: inspecting container " + name);
  }
  return createAndStart(spec);
}

Result<ReplicaInfo> DockerRuntime::createAndStart(const ReplicaSpec& spec) {
  const std::string name = dockerContainerName(spec);
  std::uint16_t port = 0;
  if (options_.network.empty()) {
    port = allocatePort();
    if (port == 0) {
      return Error::unavailable("DockerApiError: no free port on " + options_.hostAddress + " for " + spec.slot);
    }
  }
  auto body = dockerContainerCreateBody(spec, options_, port);
  if (!body.ok()) {
    releasePort(port);
    return body.failure();
  }
  auto created = client_.request("POST", "/containers/create?name=" + percentEncode(name), body->dump());
  if (!created.ok()) {
    releasePort(port);
    return unreachable(created.failure());
  }
  if (created->status == 404) {
    releasePort(port);
    return Error::notFound("ImageNotFound: image '" + spec.templ.image + "' (spec.template.image of HashRing " + spec.ringNamespace +
                 "/" + spec.ring + ") is not on the Docker host at " + client_.endpoint().describe() +
                 "; build it (docker/build-local-images.sh) or pull it: " + created->message());
  }
  if (created->status == 409) {
    releasePort(port);
    return Error::conflict("NameConflict: container name '" + name + "' is already in use: " + created->message());
  }
  if (!created->ok()) {
    releasePort(port);
    return created->error("DockerApiError: creating container " + name);
  }
  const Json createdJson = Json::parse(created->body, nullptr, false);
  const std::string id = createdJson.is_object() ? createdJson.value("Id", std::string()) : std::string();
  if (id.empty()) {
    releasePort(port);
    return Error::unavailable("DockerApiError: creating container " + name + ": no Id in the answer");
  }
  auto started = client_.request("POST", "/containers/" + id + "/start");
  if (!started.ok() || (!started->ok() && started->status != 304)) {
    // A container that cannot start is removed, so the next attempt starts clean.
    (void)removeContainer(id, std::chrono::seconds(0));
    releasePort(port);
    if (!started.ok()) return unreachable(started.failure());
    return started->error("ContainerStartFailed: container " + name + " (image '" + spec.templ.image + "') did not start");
  }
  track(spec.slot, Tracked{spec.ring, id});
  ReplicaInfo info;
  info.ring = spec.ring;
  info.slot = spec.slot;
  info.runtimeId = id;
  info.address = dockerReplicaAddress(spec, options_, port);
  info.specHash = spec.specHash;
  info.running = true;
  return info;
}

Status DockerRuntime::stop(const std::string& ring, const std::string& slot, std::chrono::seconds grace) {
  std::lock_guard slotLock(slotMutex(slot));
  const std::string filters =
      labelFilter({std::string(docker_labels::kRing) + "=" + ringNameOf(ring), std::string(docker_labels::kSlot) + "=" + slot});
  auto listed = client_.request("GET", "/containers/json?all=1&filters=" + filters);
  if (!listed.ok()) return unreachable(listed.failure());
  if (!listed->ok()) return listed->error("DockerApiError: listing containers of " + slot);
  const Json containers = Json::parse(listed->body, nullptr, false);
  if (!containers.is_array()) {
    return Error::unavailable("DockerApiError: listing containers of " + slot + ": the answer is not a JSON array");
  }
  for (const auto& container : containers) {
    const ReplicaInfo info = dockerReplicaInfo(container);
    if (auto removed = removeContainer(info.runtimeId, grace); !removed.ok()) return removed;
    if (options_.network.empty()) releasePort(hostPortOf(info.address));
  }
  std::lock_guard lock(stateMutex_);
  tracked_.erase(slot);
  return ok();
}

Result<std::vector<ReplicaInfo>> DockerRuntime::list() {
  const auto listedAt = std::chrono::steady_clock::now();
  auto listed = client_.request("GET", "/containers/json?all=1&filters=" + labelFilter({std::string(docker_labels::kRing)}));
  if (!listed.ok()) return unreachable(listed.failure());
  if (!listed->ok()) return listed->error("DockerApiError: listing containers");
  const Json containers = Json::parse(listed->body, nullptr, false);
  if (!containers.is_array()) return Error::unavailable("DockerApiError: listing containers: the answer is not a JSON array");
  std::vector<ReplicaInfo> replicas;
  replicas.reserve(containers.size());
  for (const auto& container : containers) {
    ReplicaInfo info = dockerReplicaInfo(container);
    if (info.ring.empty() || info.slot.empty()) continue;
    replicas.push_back(std::move(info));
  }
  // Containers found running (adopted after an operator restart) are watched
  // like the ones we start: resync() reports them if they die unseen, and
  // their ports stay out of new assignments.
  std::lock_guard lock(stateMutex_);
  for (const auto& info : replicas) {
    if (!info.running) continue;
    const auto it = tracked_.find(info.slot);
    if (it == tracked_.end() || it->second.since < listedAt) {
      tracked_[info.slot] = Tracked{info.ring, info.runtimeId, listedAt};
    }
    if (const auto port = hostPortOf(info.address); options_.network.empty() && port != 0) reservedPorts_.insert(port);
  }
  return replicas;
}

void DockerRuntime::onEvent(EventHandler handler) {
  const bool detach = !handler;
  {
    std::lock_guard lock(handlerMutex_);
    handler_ = std::move(handler);
  }
  if (watcher_ || detach) return;
  Json filters;
  filters["type"] = {"container"};
  filters["event"] = {"start", "die", "oom", "destroy"};
  filters["label"] = {std::string(docker_labels::kRing)};
  DockerEventWatcher::Handlers handlers;
  handlers.onEvent = [this](const DockerEvent& event) { handleDockerEvent(event); };
  handlers.onOpen = [this] { resync(); };
  handlers.onError = [](const std::string&) {
    // Heartbeats still run while the watch is down, and resync() catches up
    // on reconnect; the operator learns of the daemon's state from its calls.
  };
  watcher_ = std::make_unique<DockerEventWatcher>(client_, filters.dump(), options_.eventsBackoffMin,
                                                  options_.eventsBackoffMax, std::move(handlers));
  watcher_->start();
}

void DockerRuntime::emit(const RuntimeEvent& event) {
  std::lock_guard lock(handlerMutex_);
  if (handler_) handler_(event);
}

void DockerRuntime::handleDockerEvent(const DockerEvent& event) {
  if (event.type != "container") return;
  RuntimeEvent out;
  out.runtimeId = event.id;
  if (const auto it = event.attributes.find(std::string(docker_labels::kRing)); it != event.attributes.end()) {
    out.ring = it->second;
  }
  if (const auto it = event.attributes.find(std::string(docker_labels::kSlot)); it != event.attributes.end()) {
    out.slot = it->second;
  }
  if (out.ring.empty() || out.slot.empty()) return;

  if (event.action == "oom") {
    // An oom event alone does not mean the container died (a child may have
    // been killed); the die that follows carries it as the reason.
    std::lock_guard lock(stateMutex_);
    oomKilled_.insert(event.id);
    return;
  }
  if (event.action == "start") {
    if (wasExpected(event.id, false)) return;
    out.kind = RuntimeEvent::Kind::Started;
    out.reason = "started";
  } else if (event.action == "die") {
    bool oom = false;
    {
      std::lock_guard lock(stateMutex_);
      oom = oomKilled_.erase(event.id) > 0;
      // It is no longer ours to resync: the operator learns of it now.
      if (const auto it = tracked_.find(out.slot); it != tracked_.end() && it->second.containerId == event.id) {
        tracked_.erase(it);
      }
    }
    if (wasExpected(event.id, false)) return;
    out.kind = RuntimeEvent::Kind::Exited;
    const auto code = event.attributes.find("exitCode");
    const std::string exitCode = code != event.attributes.end() ? code->second : std::string("?");
    out.reason = (oom ? "oom-killed, exit code " : "exit code ") + exitCode;
  } else if (event.action == "destroy") {
    {
      std::lock_guard lock(stateMutex_);
      oomKilled_.erase(event.id);
    }
    if (wasExpected(event.id, true)) return;
    out.kind = RuntimeEvent::Kind::Deleted;
    out.reason = "container removed";
  } else {
    return;
  }
  emit(out);
}

void DockerRuntime::resync() {
  // Events may have been missed while the watch was down (a daemon restart
  // loses them all): report each container we run that is no longer running.
  const auto listedAt = std::chrono::steady_clock::now();
  auto listed = list();
  if (!listed.ok()) return;
  std::map<std::string, ReplicaInfo> byId;
  for (auto& info : listed.value()) byId.emplace(info.runtimeId, std::move(info));
  std::vector<RuntimeEvent> lost;
  {
    std::lock_guard lock(stateMutex_);
    for (auto it = tracked_.begin(); it != tracked_.end();) {
      const auto found = byId.find(it->second.containerId);
      // Tracked after the list was taken: the list cannot know it yet.
      if (it->second.since >= listedAt || (found != byId.end() && found->second.running)) {
        ++it;
        continue;
      }
      if (expectedGone_.contains(it->second.containerId)) {
        ++it;
        continue;
      }
      RuntimeEvent event;
      event.ring = it->second.ring;
      event.slot = it->first;
      event.runtimeId = it->second.containerId;
      if (found == byId.end()) {
        event.kind = RuntimeEvent::Kind::Deleted;
        event.reason = "container gone while the event stream was down";
      } else {
        event.kind = RuntimeEvent::Kind::Exited;
        event.reason = found->second.reason.empty() ? std::string("not running") : found->second.reason;
      }
      lost.push_back(std::move(event));
      it = tracked_.erase(it);
    }
  }
  for (const auto& event : lost) emit(event);
}

}  // namespace ringlb::op
