#include "ringlb/operator/ring_registry.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ringlb/operator/hash_ring.h"
#include "ringlb/ring/wire_format.h"

namespace ringlb::op {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr std::size_t kHistoryLength = 50;

std::int64_t unixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool sameContent(const ring::RingSpec& a, ring::RingSpec b) {
  b.version = a.version;
  return a == b;
}

}  // namespace

std::string describeRingChange(const ring::RingSpec* before, const ring::RingSpec& after) {
  if (!before) return "created with " + std::to_string(after.members.size()) + " members";
  std::string summary;
  const auto append = [&summary](const std::string& part) { summary += (summary.empty() ? "" : ", ") + part; };
  std::map<std::string, const ring::Member*> old;
  for (const auto& member : before->members) old[member.id] = &member;
  for (const auto& member : after.members) {
    const auto it = old.find(member.id);
    if (it == old.end()) {
      append("+" + member.id + " (" + std::string(ring::toString(member.state)) +
             (member.rampPermille == ring::kFullRamp ? "" : ", ramp " + std::to_string(member.rampPermille) + "‰") + ")");
      continue;
    }
    if (it->second->state != member.state) {
      append(member.id + " " + std::string(ring::toString(it->second->state)) + "→" +
             std::string(ring::toString(member.state)));
    }
    if (it->second->address != member.address) append(member.id + " at " + member.address);
    if (it->second->weight != member.weight) append(member.id + " weight " + std::to_string(member.weight));
    if (it->second->rampPermille != member.rampPermille) {
      append(member.id + " ramp " + std::to_string(it->second->rampPermille) + "‰→" + std::to_string(member.rampPermille) + "‰");
    }
    old.erase(it);
  }
  for (const auto& [id, member] : old) append("-" + id);
  if (before->algorithm != after.algorithm || before->virtualNodes != after.virtualNodes ||
      before->tableSize != after.tableSize || before->capacity != after.capacity || before->loadFactor != after.loadFactor || !(before->key == after.key)) {
    append("hashing changed");
  }
  if (before->protocol != after.protocol) append("protocol " + std::string(ring::toString(after.protocol)));
  return summary.empty() ? "unchanged" : summary;
}

std::string ringFileName(const std::string& key) {
  const std::string ns = ringNamespaceOf(key);
  return (ns.empty() ? std::string("default") : ns) + "_" + ringNameOf(key) + ".json";
}

std::string ringKeyOfFile(const std::string& stem) {
  const auto underscore = stem.find('_');
  if (underscore == std::string::npos) return ringKey("default", stem);
  return ringKey(stem.substr(0, underscore), stem.substr(underscore + 1));
}

RingRegistry::RingRegistry(fs::path stateDir) : dir_(stateDir.empty() ? fs::path() : stateDir / "rings") {}

std::vector<std::string> RingRegistry::load() {
  std::vector<std::string> errors;
  if (dir_.empty()) return errors;
  std::error_code ec;
  if (!fs::exists(dir_, ec)) return errors;
  std::vector<fs::path> files;
  for (const auto& file : fs::directory_iterator(dir_, ec)) {
    if (file.path().extension() == ".json") files.push_back(file.path());
  }
  // Files from before namespaces first, so a newer "<namespace>_<name>.json" of the same ring wins.
  std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
    const bool legacyA = a.stem().string().find('_') == std::string::npos;
    const bool legacyB = b.stem().string().find('_') == std::string::npos;
    return legacyA != legacyB ? legacyA : a < b;
  });
  std::lock_guard lock(mutex_);
  for (const auto& file : files) {
    if (auto error = loadFile(file)) errors.push_back(std::move(*error));
  }
  return errors;
}

std::optional<std::string> RingRegistry::loadFile(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  const json document = json::parse(text.str(), nullptr, false);
  if (document.is_discarded() || !document.is_object() || !document.contains("version") ||
      !document["version"].is_number_unsigned()) {
    return file.string() + ": not a persisted ring (expected {version, ring})";
  }
  Entry& entry = entries_[ringKeyOfFile(file.stem().string())];
  entry.lastVersion = std::max(entry.lastVersion, document["version"].get<std::uint64_t>());
  if (!document.contains("ring") || document["ring"].is_null()) return std::nullopt;
  auto spec = ring::ringFromJson(document["ring"]);
  if (!spec) return file.string() + ": ring." + spec.error();
  auto snapshot = ring::RingSnapshot::build(std::move(spec).value());
  if (!snapshot) return file.string() + ": " + snapshot.error();
  if (entry.ring && entry.ring->version() >= snapshot.value()->version()) return std::nullopt;
  entry.ring = std::move(snapshot).value();
  entry.lastVersion = std::max(entry.lastVersion, entry.ring->version());
  return std::nullopt;
}

Status RingRegistry::persist(const std::string& key, const Entry& entry) const {
  if (dir_.empty()) return ok();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Error::unavailable(dir_.string() + ": " + ec.message());
  const json document = {{"version", entry.lastVersion},
                         {"ring", entry.ring ? ring::ringToJson(entry.ring->spec()) : json(nullptr)}};
  const fs::path target = dir_ / ringFileName(key);
  const fs::path temporary = dir_ / (ringFileName(key) + ".tmp");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << document.dump() << '\n';
    out.flush();
    if (!out) return Error::unavailable(temporary.string() + ": cannot write the ring version");
  }
  fs::rename(temporary, target, ec);
  if (ec) return Error::unavailable(target.string() + ": " + ec.message());
  if (ringNamespaceOf(key) == "default") fs::remove(dir_ / (ringNameOf(key) + ".json"), ec);  // the file from before namespaces
  return ok();
}

Result<RingRegistry::Published> RingRegistry::publish(const std::string& key, ring::RingSpec spec) {
  // Publishes and removals take turns on writeMutex_, so versions and files
  // go out in order; mutex_ is held only to read and swap the entry, never
  // across the build or the disk write, so readers never wait on the disk.
  std::unique_lock writing(writeMutex_);
  Entry current;
  {
    std::lock_guard lock(mutex_);
    current = entries_[key];
  }
  if (current.ring && sameContent(current.ring->spec(), spec) && current.ring->version() >= current.floor) {
    return Published{false, current.ring->version(), 0, {}};
  }
  spec.version = std::max({current.lastVersion, current.floor, current.ring ? current.ring->version() : 0}) + 1;
  return install(key, std::move(spec), writing);
}

Result<RingRegistry::Published> RingRegistry::mirror(const std::string& key, ring::RingSpec spec) {
  std::unique_lock writing(writeMutex_);
  {
    std::lock_guard lock(mutex_);
    const Entry& current = entries_[key];
    if (current.ring && current.ring->version() >= spec.version) return Published{false, current.ring->version(), 0, {}};
  }
  return install(key, std::move(spec), writing);
}

Result<RingRegistry::Published> RingRegistry::install(const std::string& key, ring::RingSpec spec,
                                                      std::unique_lock<std::mutex>& writing) {
  Entry next;
  {
    std::lock_guard lock(mutex_);
    next = entries_[key];
  }
  auto built = ring::RingSnapshot::build(spec);
  if (!built) return Error{"ring " + key + ": " + built.error()};
  std::shared_ptr<const ring::RingSnapshot> snapshot = std::move(built).value();
  Published result;
  result.movedKeyspace = next.ring ? ring::movedKeyspace(*next.ring, *snapshot) : (snapshot->empty() ? 0.0 : 1.0);
  result.summary = describeRingChange(next.ring ? &next.ring->spec() : nullptr, snapshot->spec());
  next.ring = snapshot;
  next.lastVersion = std::max(next.lastVersion, snapshot->version());
  if (auto persisted = persist(key, next); !persisted) return persisted.failure();
  next.history.push_back({snapshot->version(), unixMillisNow(), result.movedKeyspace, result.summary});
  while (next.history.size() > kHistoryLength) next.history.pop_front();
  {
    std::lock_guard lock(mutex_);
    // The floor may have risen meanwhile (raiseVersionFloor takes no write turn): keep the higher one.
    next.floor = std::max(next.floor, entries_[key].floor);
    entries_[key] = std::move(next);
  }
  writing.unlock();
  result.changed = true;
  result.version = snapshot->version();
  for (const auto& handler : handlers()) handler(key);
  return result;
}

void RingRegistry::raiseVersionFloor(const std::string& key, std::uint64_t version) {
  std::lock_guard lock(mutex_);
  Entry& entry = entries_[key];
  entry.floor = std::max(entry.floor, version);
}

std::uint64_t RingRegistry::lastVersion(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return 0;
  return std::max({it->second.lastVersion, it->second.floor, it->second.ring ? it->second.ring->version() : 0});
}

Status RingRegistry::remove(const std::string& key) {
  std::unique_lock writing(writeMutex_);
  Entry next;
  {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.ring) return ok();
    next = it->second;
  }
  next.lastVersion = std::max(next.lastVersion, next.ring->version());
  next.ring.reset();
  if (auto persisted = persist(key, next); !persisted) return persisted;
  {
    std::lock_guard lock(mutex_);
    next.floor = std::max(next.floor, entries_[key].floor);
    entries_[key] = std::move(next);
  }
  writing.unlock();
  for (const auto& handler : handlers()) handler(key);
  return ok();
}

std::vector<RingRegistry::ChangeHandler> RingRegistry::handlers() const {
  std::lock_guard lock(mutex_);
  return handlers_;
}

std::shared_ptr<const ring::RingSnapshot> RingRegistry::get(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : it->second.ring;
}

Result<std::string> RingRegistry::resolve(const std::string& ref) const {
  std::lock_guard lock(mutex_);
  if (ref.find('/') != std::string::npos) {
    const auto it = entries_.find(ref);
    if (it == entries_.end() || !it->second.ring) return Error::notFound("no ring '" + ref + "'");
    return ref;
  }
  std::vector<std::string> matches;
  for (const auto& [key, entry] : entries_) {
    if (entry.ring && ringNameOf(key) == ref) matches.push_back(key);
  }
  if (matches.empty()) return Error::notFound("no ring named '" + ref + "'");
  if (matches.size() == 1) return matches.front();
  std::string namespaces;
  for (const auto& key : matches) namespaces += (namespaces.empty() ? "" : ", ") + ringNamespaceOf(key);
  return Error::conflict("ring name '" + ref + "' is ambiguous: namespaces " + namespaces + " each have one; ask for /v1/rings/{namespace}/" + ref);
}

std::vector<std::shared_ptr<const ring::RingSnapshot>> RingRegistry::list() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<const ring::RingSnapshot>> rings;
  for (const auto& [key, entry] : entries_) {
    if (entry.ring) rings.push_back(entry.ring);
  }
  return rings;
}

std::vector<std::string> RingRegistry::keys() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> keys;
  for (const auto& [key, entry] : entries_) {
    if (entry.ring) keys.push_back(key);
  }
  return keys;
}

std::vector<RingChange> RingRegistry::history(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return {};
  return {it->second.history.begin(), it->second.history.end()};
}

void RingRegistry::onChange(ChangeHandler handler) {
  std::lock_guard lock(mutex_);
  handlers_.push_back(std::move(handler));
}

}  // namespace ringlb::op
