#include "ringlb/operator/exec_credential_plugin.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringlb/operator/rfc3339.h"

extern char** environ;

namespace ringlb::op {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxOutputBytes = 1u << 20;

std::string encodeBase64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

std::string stringField(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The spec client-go passes: whether a terminal is available (never, here)
// and, with provideClusterInfo, the cluster the credential is for.
std::string execInfoFor(const KubernetesConfig& config) {
  json spec = {{"interactive", false}};
  if (config.exec.provideClusterInfo) {
    json cluster = {{"server", config.baseUrl()}};
    std::string ca = config.caData;
    if (ca.empty() && !config.caFile.empty()) {
      if (auto read = readFile(config.caFile)) ca = std::move(read).value();
    }
    if (!ca.empty()) cluster["certificate-authority-data"] = encodeBase64(ca);
    if (config.insecureSkipTlsVerify) cluster["insecure-skip-tls-verify"] = true;
    spec["cluster"] = std::move(cluster);
  }
  return json{{"apiVersion", config.exec.apiVersion}, {"kind", "ExecCredential"}, {"spec", std::move(spec)}}.dump();
}

struct ProcessOutput {
  int exitStatus = 0;
  bool timedOut = false;
  std::string out;
  std::string err;
};

// Drains both pipes until they close or `timeout` passes (then kills the child).
ProcessOutput collect(pid_t child, int outFd, int errFd, std::chrono::milliseconds timeout) {
  ProcessOutput result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<pollfd> fds{{outFd, POLLIN, 0}, {errFd, POLLIN, 0}};
  char buffer[4096];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timedOut = true;
      break;
    }
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        std::string& sink = i == 0 ? result.out : result.err;
        if (sink.size() < kMaxOutputBytes) sink.append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
  }
  for (const auto& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  if (result.timedOut) ::kill(child, SIGKILL);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  result.exitStatus = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return result;
}

std::string firstLines(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() > 300) text = text.substr(0, 300) + "...";
  return text;
}

}  // namespace

Result<ExecCredential> parseExecCredential(std::string_view output, std::string_view apiVersion) {
  const json root = json::parse(output, nullptr, false);
  if (!root.is_object()) return Error{"output is not a JSON object (an ExecCredential)"};
  if (stringField(root, "kind") != "ExecCredential") {
    return Error{"kind: '" + stringField(root, "kind") + "', expected ExecCredential"};
  }
  if (stringField(root, "apiVersion") != apiVersion) {
    return Error{"apiVersion: '" + stringField(root, "apiVersion") + "' does not match the kubeconfig's " +
                 std::string(apiVersion)};
  }
  const auto status = root.find("status");
  if (status == root.end() || !status->is_object()) return Error{"status: missing"};
  ExecCredential credential;
  credential.token = stringField(*status, "token");
  credential.clientCertificateData = stringField(*status, "clientCertificateData");
  credential.clientKeyData = stringField(*status, "clientKeyData");
  if (credential.clientCertificateData.empty() != credential.clientKeyData.empty()) {
    return Error{std::string("status.") + (credential.clientKeyData.empty() ? "clientKeyData" : "clientCertificateData") +
                 ": a client certificate needs both clientCertificateData and clientKeyData"};
  }
  if (credential.token.empty() && credential.clientCertificateData.empty()) {
    return Error{"status: neither a token nor clientCertificateData and clientKeyData"};
  }
  if (const std::string expiry = stringField(*status, "expirationTimestamp"); !expiry.empty()) {
    auto parsed = parseRfc3339(expiry);
    if (!parsed) return Error{"status.expirationTimestamp: " + parsed.error()};
    credential.expiration = parsed.value();
  }
  return credential;
}

ExecCredentialPlugin::ExecCredentialPlugin(const KubernetesConfig& config, std::chrono::milliseconds timeout)
    : plugin_(config.exec), execInfo_(execInfoFor(config)), timeout_(timeout) {}

Result<ExecCredential> ExecCredentialPlugin::run() const {
  const std::string name = "exec credential plugin '" + plugin_.command + "'";
  std::vector<std::string> argStorage{plugin_.command};
  argStorage.insert(argStorage.end(), plugin_.args.begin(), plugin_.args.end());
  std::vector<std::string> envStorage;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string_view text(*entry);
    const std::string_view key = text.substr(0, text.find('='));
    bool overridden = key == "KUBERNETES_EXEC_INFO";
    for (const auto& [envName, value] : plugin_.env) overridden = overridden || key == envName;
    if (!overridden) envStorage.emplace_back(text);
  }
  for (const auto& [envName, value] : plugin_.env) envStorage.push_back(envName + "=" + value);
  envStorage.push_back("KUBERNETES_EXEC_INFO=" + execInfo_);
  std::vector<char*> argv;
  for (auto& arg : argStorage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& entry : envStorage) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int outPipe[2];
  int errPipe[2];
  if (::pipe2(outPipe, O_CLOEXEC) != 0) return Error::unavailable(name + ": pipe: " + std::strerror(errno));
  if (::pipe2(errPipe, O_CLOEXEC) != 0) {
    ::close(outPipe[0]);
    ::close(outPipe[1]);
    return Error::unavailable(name + ": pipe: " + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // interactiveMode Never/IfAvailable without a terminal: the plugin sees no stdin.
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, outPipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, errPipe[1], STDERR_FILENO);
  pid_t child = -1;
  const int spawned = ::posix_spawnp(&child, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(outPipe[1]);
  ::close(errPipe[1]);
  if (spawned != 0) {
    ::close(outPipe[0]);
    ::close(errPipe[0]);
    std::string message = name + ": cannot run: " + std::strerror(spawned);
    if (!plugin_.installHint.empty()) message += " (" + firstLines(plugin_.installHint) + ")";
    return Error::unavailable(std::move(message));
  }
  ProcessOutput output = collect(child, outPipe[0], errPipe[0], timeout_);
  if (output.timedOut) {
    return Error::unavailable(name + ": no answer within " + std::to_string(timeout_.count()) + " ms (killed)");
  }
  if (output.exitStatus != 0) {
    std::string message = name + ": exited with status " + std::to_string(output.exitStatus);
    if (!output.err.empty()) message += ": " + firstLines(output.err);
    if (output.exitStatus == 127 && !plugin_.installHint.empty()) message += " (" + firstLines(plugin_.installHint) + ")";
    return Error::unavailable(std::move(message));
  }
  auto credential = parseExecCredential(output.out, plugin_.apiVersion);
  if (!credential) return Error{name + " printed a bad ExecCredential: " + credential.error()};
  return credential;
}

}  // namespace ringlb::op
