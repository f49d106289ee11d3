#include "ringlb/operator/process_runtime.h"

#include "ringlb/operator/replica_variables.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

extern char** environ;

namespace ringlb::op {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

int pidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  errno = ENOSYS;
  return -1;
#endif
}

std::string errnoText(int error) { return std::strerror(error); }

std::string signalName(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev ? "SIG" + std::string(abbrev) : "signal " + std::to_string(signal);
}

std::string describeStatus(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "killed by " + signalName(WTERMSIG(status)) + " (exit code " + std::to_string(128 + WTERMSIG(status)) + ")";
  }
  return "ended (status " + std::to_string(status) + ")";
}

// Binds `port` (0: any) on `host` the way a server would (SO_REUSEADDR) and
// returns the bound port, or 0 when it is taken.
std::uint16_t probePort(const std::string& host, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::uint16_t bound = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) bound = ntohs(address.sin_port);
  }
  ::close(fd);
  return bound;
}

std::string timestamp() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

}  // namespace

std::optional<std::uint64_t> processStartTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // comm (field 2) may contain spaces and parentheses: parse after the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::string state;
  rest >> state;  // field 3
  if (state == "Z" || state == "X" || state == "x") return std::nullopt;
  std::string field;
  for (int index = 4; index <= 22; ++index) {
    if (!(rest >> field)) return std::nullopt;
  }
  try {
    return std::stoull(field);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

ProcessRuntime::ProcessRuntime(ProcessRuntimeOptions options)
    : options_(std::move(options)),
      replicaDir_(options_.stateDir / "replicas"),
      logDir_(options_.stateDir / "logs") {
  std::error_code ec;
  fs::create_directories(replicaDir_, ec);
  fs::create_directories(logDir_, ec);
  epollFd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wakeFd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = wakeFd_;
  ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, wakeFd_, &event);
  loadState();
  monitor_ = std::thread([this] { monitor(); });
}

ProcessRuntime::~ProcessRuntime() {
  shutdown();
  for (auto& [slot, replica] : replicas_) {
    if (replica.pidfd >= 0) ::close(replica.pidfd);
  }
  ::close(wakeFd_);
  ::close(epollFd_);
}

void ProcessRuntime::shutdown() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wakeFd_, &one, sizeof one);
  if (monitor_.joinable()) monitor_.join();
}

void ProcessRuntime::onEvent(EventHandler handler) {
  std::lock_guard lock(handlerMutex_);
  handler_ = std::move(handler);
}

void ProcessRuntime::loadState() {
  std::error_code ec;
  std::lock_guard lock(mutex_);
  for (const auto& file : fs::directory_iterator(replicaDir_, ec)) {
    if (file.path().extension() != ".json") continue;
    std::ifstream in(file.path());
    std::stringstream text;
    text << in.rdbuf();
    const json state = json::parse(text.str(), nullptr, false);
    Replica replica;
    try {
      if (state.is_discarded()) throw std::runtime_error("not JSON");
      replica.ring = state.at("ring").get<std::string>();
      replica.ringNamespace = state.value("namespace", "default");
      replica.slot = state.at("slot").get<std::string>();
      replica.pid = state.at("pid").get<pid_t>();
      replica.startTime = state.at("startTime").get<std::uint64_t>();
      replica.specHash = state.at("specHash").get<std::string>();
      replica.port = state.at("port").get<std::uint16_t>();
    } catch (const std::exception& e) {
      loadErrors_.push_back(file.path().string() + ": unreadable replica state (" + e.what() + ")");
      continue;
    }
    lastPorts_[replica.slot] = replica.port;
    const auto startTime = processStartTime(replica.pid);
    if (startTime && *startTime == replica.startTime) {
      watch(replica);
    } else {
      replica.exited = true;
      replica.reason = "exited while the operator was not running";
    }
    const std::string slot = replica.slot;
    replicas_[slot] = std::move(replica);
  }
}

Status ProcessRuntime::writeState(const Replica& replica) const {
  const json state = {{"ring", replica.ring},         {"namespace", replica.ringNamespace},
                      {"slot", replica.slot},         {"pid", replica.pid},
                      {"startTime", replica.startTime}, {"specHash", replica.specHash},
                      {"port", replica.port},         {"address", options_.host + ":" + std::to_string(replica.port)}};
  const fs::path target = replicaDir_ / (replica.slot + ".json");
  const fs::path temporary = replicaDir_ / (replica.slot + ".json.tmp");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << state.dump() << '\n';
    if (!out.flush()) return Error{temporary.string() + ": cannot write replica state"};
  }
  std::error_code ec;
  fs::rename(temporary, target, ec);
  if (ec) return Error{target.string() + ": " + ec.message()};
  return ok();
}

void ProcessRuntime::removeState(const std::string& slot) const {
  std::error_code ec;
  fs::remove(replicaDir_ / (slot + ".json"), ec);
}

ReplicaInfo ProcessRuntime::infoOf(const Replica& replica) const {
  ReplicaInfo info;
  info.ring = replica.ring;
  info.slot = replica.slot;
  info.runtimeId = std::to_string(replica.pid) + ":" + std::to_string(replica.startTime);
  info.address = options_.host + ":" + std::to_string(replica.port);
  info.specHash = replica.specHash;
  info.running = !replica.exited;
  info.reason = replica.reason;
  return info;
}

void ProcessRuntime::watch(Replica& replica) {
  replica.pidfd = pidfdOpen(replica.pid);
  if (replica.pidfd < 0) return;  // the monitor falls back to polling /proc
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = replica.pidfd;
  ::epoll_ctl(epollFd_, EPOLL_CTL_ADD, replica.pidfd, &event);
}

Result<ProcessRuntime::Replica> ProcessRuntime::spawn(const ReplicaSpec& spec, std::uint16_t preferredPort) {
  if (spec.templ.command.empty()) {
    return Error{"spec.template.command: required by the process runtime (image is for docker and kubernetes)"};
  }
  std::uint16_t port = preferredPort ? probePort(options_.host, preferredPort) : 0;
  if (port == 0) port = probePort(options_.host, 0);
  if (port == 0) return Error{"no free port on " + options_.host};

  // The runtime's own variables win over template env of the same name.
  std::map<std::string, std::string> vars;
  for (const auto& var : spec.templ.env) vars[var.name] = var.value;
  const std::map<std::string, std::string> owned = {{std::string(kPortVariable), std::to_string(port)},
                                                                 {std::string(kListenAddressVariable), options_.host},
                                                                 {std::string(kSlotVariable), spec.slot},
                                                                 {"RINGLB_RING", spec.ring}};
  for (const auto& [name, value] : owned) vars[name] = value;

  std::vector<std::string> argv;
  for (const auto& part : spec.templ.command) argv.push_back(expandVariables(part, vars));
  for (const auto& part : spec.templ.args) argv.push_back(expandVariables(part, vars));

  std::map<std::string, std::string> overrides(owned.begin(), owned.end());
  for (const auto& var : spec.templ.env) {
    if (!owned.count(var.name)) overrides[var.name] = expandVariables(var.value, vars);
  }
  std::vector<std::string> env;
  for (char** entry = environ; *entry; ++entry) {
    const std::string_view text(*entry);
    const auto name = text.substr(0, text.find('='));
    if (!overrides.count(std::string(name))) env.emplace_back(text);
  }
  for (const auto& [name, value] : overrides) env.push_back(name + "=" + value);

  const fs::path logPath = logDir_ / (spec.slot + ".log");
  std::error_code ec;
  if (fs::exists(logPath, ec) && fs::file_size(logPath, ec) > options_.maxLogBytes) {
    fs::rename(logPath, logDir_ / (spec.slot + ".log.1"), ec);
  }
  const int logFd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (logFd < 0) return Error{logPath.string() + ": " + errnoText(errno)};
  std::string banner = "=== " + timestamp() + " ringlb-operator starting " + spec.slot + ":";
  for (const auto& part : argv) banner += " " + part;
  banner += "\n";
  [[maybe_unused]] auto written = ::write(logFd, banner.data(), banner.size());

  std::vector<char*> argvPointers;
  for (auto& part : argv) argvPointers.push_back(part.data());
  argvPointers.push_back(nullptr);
  std::vector<char*> envPointers;
  for (auto& entry : env) envPointers.push_back(entry.data());
  envPointers.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, logFd, 1);
  posix_spawn_file_actions_adddup2(&actions, logFd, 2);
  // The operator's listening sockets must not leak into replicas that outlive it.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int signal : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGQUIT}) sigaddset(&defaults, signal);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  // Own session: replicas survive the operator and get no terminal signals meant for it.
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  pid_t pid = 0;
  const int error = ::posix_spawnp(&pid, argvPointers[0], &actions, &attributes, argvPointers.data(), envPointers.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(logFd);
  if (error != 0) {
    return Error{"spec.template.command: cannot run '" + argv[0] + "': " + errnoText(error)};
  }
  const auto startTime = processStartTime(pid);
  Replica replica;
  replica.ring = spec.ring;
  replica.ringNamespace = spec.ringNamespace;
  replica.slot = spec.slot;
  replica.pid = pid;
  replica.specHash = spec.specHash;
  replica.port = port;
  if (!startTime) {
    // Died before we could look: reap it and report the failure.
    int status = 0;
    ::waitpid(pid, &status, 0);
    return Error{"'" + argv[0] + "' exited at once: " + describeStatus(status) + " (see " + logPath.string() + ")"};
  }
  replica.startTime = *startTime;
  return replica;
}

Result<ReplicaInfo> ProcessRuntime::ensureRunning(const ReplicaSpec& spec) {
  ignoredFields_.check(spec);
  std::uint16_t preferredPort = 0;
  {
    std::unique_lock lock(mutex_);
    const auto it = replicas_.find(spec.slot);
    if (it != replicas_.end() && !it->second.exited) {
      if (it->second.specHash == spec.specHash) return infoOf(it->second);
    }
    if (const auto last = lastPorts_.find(spec.slot); last != lastPorts_.end()) preferredPort = last->second;
  }
  if (auto stopped = stop(spec.ring, spec.slot, std::chrono::seconds(5)); !stopped) return Error{stopped.error()};

  auto spawned = spawn(spec, preferredPort);
  if (!spawned) return Error{spawned.error()};
  Replica replica = std::move(spawned).value();
  if (auto written = writeState(replica); !written) {
    ::kill(replica.pid, SIGKILL);
    ::waitpid(replica.pid, nullptr, 0);
    return Error{written.error()};
  }
  std::lock_guard lock(mutex_);
  lastPorts_[replica.slot] = replica.port;
  watch(replica);
  const ReplicaInfo info = infoOf(replica);
  replicas_[replica.slot] = std::move(replica);
  return info;
}

bool ProcessRuntime::waitExited(const std::string& slot, pid_t pid, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return exited_.wait_until(lock, deadline, [&] {
    const auto it = replicas_.find(slot);
    return it == replicas_.end() || it->second.pid != pid || it->second.exited;
  });
}

Status ProcessRuntime::stop(const std::string&, const std::string& slot, std::chrono::seconds grace) {
  pid_t pid = 0;
  {
    std::lock_guard lock(mutex_);
    const auto it = replicas_.find(slot);
    if (it == replicas_.end()) {
      removeState(slot);
      return ok();
    }
    if (!it->second.exited) {
      it->second.stopping = true;
      pid = it->second.pid;
    }
  }
  if (pid != 0) {
    // The replica leads its own process group: signal the group so helpers it forked go too.
    if (::kill(-pid, SIGTERM) != 0) ::kill(pid, SIGTERM);
    if (!waitExited(slot, pid, std::chrono::steady_clock::now() + grace)) {
      if (::kill(-pid, SIGKILL) != 0) ::kill(pid, SIGKILL);
      if (!waitExited(slot, pid, std::chrono::steady_clock::now() + std::chrono::seconds(10))) {
        return Error{slot + ": pid " + std::to_string(pid) + " survived SIGKILL"};
      }
    }
  }
  std::lock_guard lock(mutex_);
  const auto it = replicas_.find(slot);
  if (it != replicas_.end() && (it->second.pid == pid || pid == 0)) {
    if (it->second.pidfd >= 0) {
      ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, it->second.pidfd, nullptr);
      ::close(it->second.pidfd);
    }
    replicas_.erase(it);
  }
  removeState(slot);
  return ok();
}

Result<std::vector<ReplicaInfo>> ProcessRuntime::list() {
  std::lock_guard lock(mutex_);
  std::vector<ReplicaInfo> infos;
  for (const auto& [slot, replica] : replicas_) infos.push_back(infoOf(replica));
  return infos;
}

void ProcessRuntime::handleExit(int pidfd, pid_t pid) {
  RuntimeEvent event;
  {
    std::lock_guard lock(mutex_);
    Replica* replica = nullptr;
    for (auto& [slot, candidate] : replicas_) {
      if ((pidfd >= 0 && candidate.pidfd == pidfd) || (pidfd < 0 && candidate.pid == pid && !candidate.exited)) {
        replica = &candidate;
        break;
      }
    }
    if (!replica) return;
    int status = 0;
    const pid_t reaped = ::waitpid(replica->pid, &status, WNOHANG);
    if (reaped == replica->pid) {
      replica->reason = describeStatus(status);
    } else if (reaped == 0 && processStartTime(replica->pid)) {
      return;  // spurious wake-up: still running
    } else {
      replica->reason = "exited (not a child of this operator: exit status unknown)";
    }
    if (replica->stopping) replica->reason = "stopped by the operator: " + replica->reason;
    replica->exited = true;
    if (replica->pidfd >= 0) {
      ::epoll_ctl(epollFd_, EPOLL_CTL_DEL, replica->pidfd, nullptr);
      ::close(replica->pidfd);
      replica->pidfd = -1;
    }
    event.kind = RuntimeEvent::Kind::Exited;
    event.ring = replica->ring;
    event.slot = replica->slot;
    event.runtimeId = std::to_string(replica->pid) + ":" + std::to_string(replica->startTime);
    event.reason = replica->reason;
  }
  // Report before waking stop(): the controller sees the exit while it still
  // expects it.
  {
    std::lock_guard lock(handlerMutex_);
    if (handler_) handler_(event);
  }
  exited_.notify_all();
}

void ProcessRuntime::monitor() {
  epoll_event events[16];
  const int timeout = static_cast<int>(options_.procPollInterval.count());
  for (;;) {
    const int count = ::epoll_wait(epollFd_, events, 16, timeout);
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    for (int i = 0; i < count; ++i) {
      if (events[i].data.fd == wakeFd_) continue;
      handleExit(events[i].data.fd, 0);
    }
    // Replicas without a pidfd (old kernels): poll /proc.
    std::vector<pid_t> gone;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [slot, replica] : replicas_) {
        if (replica.pidfd < 0 && !replica.exited) {
          const auto startTime = processStartTime(replica.pid);
          if (!startTime || *startTime != replica.startTime) gone.push_back(replica.pid);
        }
      }
    }
    for (pid_t pid : gone) handleExit(-1, pid);
  }
}

}  // namespace ringlb::op
