#include "ringlb/operator/ring_registry.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

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
      append("+" + member.id + " (" + std::string(ring::toString(member.state)) + ")");
      continue;
    }
    if (it->second->state != member.state) {
      append(member.id + " " + std::string(ring::toString(it->second->state)) + "→" +
             std::string(ring::toString(member.state)));
    }
    if (it->second->address != member.address) append(member.id + " at " + member.address);
    if (it->second->weight != member.weight) append(member.id + " weight " + std::to_string(member.weight));
    old.erase(it);
  }
  for (const auto& [id, member] : old) append("-" + id);
  if (before->algorithm != after.algorithm || before->virtualNodes != after.virtualNodes ||
      before->tableSize != after.tableSize || before->loadFactor != after.loadFactor || !(before->key == after.key)) {
    append("hashing changed");
  }
  return summary.empty() ? "unchanged" : summary;
}

RingRegistry::RingRegistry(fs::path stateDir) : dir_(stateDir.empty() ? fs::path() : stateDir / "rings") {}

std::vector<std::string> RingRegistry::load() {
  std::vector<std::string> errors;
  if (dir_.empty()) return errors;
  std::error_code ec;
  if (!fs::exists(dir_, ec)) return errors;
  std::lock_guard lock(mutex_);
  for (const auto& file : fs::directory_iterator(dir_, ec)) {
    if (file.path().extension() != ".json") continue;
    std::ifstream in(file.path());
    std::stringstream text;
    text << in.rdbuf();
    const json document = json::parse(text.str(), nullptr, false);
    if (document.is_discarded() || !document.is_object() || !document.contains("version") ||
        !document["version"].is_number_unsigned()) {
      errors.push_back(file.path().string() + ": not a persisted ring (expected {version, ring})");
      continue;
    }
    const std::string name = file.path().stem().string();
    Entry& entry = entries_[name];
    entry.lastVersion = document["version"].get<std::uint64_t>();
    if (document.contains("ring") && !document["ring"].is_null()) {
      auto spec = ring::ringFromJson(document["ring"]);
      if (!spec) {
        errors.push_back(file.path().string() + ": ring." + spec.error());
        continue;
      }
      auto snapshot = ring::RingSnapshot::build(std::move(spec).value());
      if (!snapshot) {
        errors.push_back(file.path().string() + ": " + snapshot.error());
        continue;
      }
      entry.ring = std::move(snapshot).value();
      entry.lastVersion = std::max(entry.lastVersion, entry.ring->version());
    }
  }
  return errors;
}

Status RingRegistry::persist(const std::string& name, const Entry& entry) const {
  if (dir_.empty()) return ok();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return Error::unavailable(dir_.string() + ": " + ec.message());
  const json document = {{"version", entry.lastVersion},
                         {"ring", entry.ring ? ring::ringToJson(entry.ring->spec()) : json(nullptr)}};
  const fs::path target = dir_ / (name + ".json");
  const fs::path temporary = dir_ / (name + ".json.tmp");
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << document.dump() << '\n';
    out.flush();
    if (!out) return Error::unavailable(temporary.string() + ": cannot write the ring version");
  }
  fs::rename(temporary, target, ec);
  if (ec) return Error::unavailable(target.string() + ": " + ec.message());
  return ok();
}

Result<RingRegistry::Published> RingRegistry::publish(ring::RingSpec spec) {
  // Publishes and removals take turns on writeMutex_, so versions and files
  // go out in order; mutex_ is held only to read and swap the entry, never
  // across the build or the disk write, so readers never wait on the disk.
  std::unique_lock writing(writeMutex_);
  Published result;
  Entry next;
  {
    std::lock_guard lock(mutex_);
    next = entries_[spec.name];
  }
  if (next.ring && sameContent(next.ring->spec(), spec)) {
    result.version = next.ring->version();
    return result;
  }
  spec.version = std::max(next.lastVersion, next.ring ? next.ring->version() : 0) + 1;
  auto built = ring::RingSnapshot::build(spec);
  if (!built) return Error{"ring " + spec.name + ": " + built.error()};
  std::shared_ptr<const ring::RingSnapshot> snapshot = std::move(built).value();
  result.movedKeyspace = next.ring ? ring::movedKeyspace(*next.ring, *snapshot) : (snapshot->empty() ? 0.0 : 1.0);
  result.summary = describeRingChange(next.ring ? &next.ring->spec() : nullptr, snapshot->spec());
  next.ring = snapshot;
  next.lastVersion = snapshot->version();
  if (auto persisted = persist(spec.name, next); !persisted) return persisted.failure();
  next.history.push_back({snapshot->version(), unixMillisNow(), result.movedKeyspace, result.summary});
  while (next.history.size() > kHistoryLength) next.history.pop_front();
  {
    std::lock_guard lock(mutex_);
    entries_[spec.name] = std::move(next);
  }
  writing.unlock();
  result.changed = true;
  result.version = snapshot->version();
  for (const auto& handler : handlers()) handler(spec.name);
  return result;
}

Status RingRegistry::remove(const std::string& name) {
  std::unique_lock writing(writeMutex_);
  Entry next;
  {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(name);
    if (it == entries_.end() || !it->second.ring) return ok();
    next = it->second;
  }
  next.lastVersion = std::max(next.lastVersion, next.ring->version());
  next.ring.reset();
  if (auto persisted = persist(name, next); !persisted) return persisted;
  {
    std::lock_guard lock(mutex_);
    entries_[name] = std::move(next);
  }
  writing.unlock();
  for (const auto& handler : handlers()) handler(name);
  return ok();
}

std::vector<RingRegistry::ChangeHandler> RingRegistry::handlers() const {
  std::lock_guard lock(mutex_);
  return handlers_;
}

std::shared_ptr<const ring::RingSnapshot> RingRegistry::get(const std::string& name) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.ring;
}

std::vector<std::shared_ptr<const ring::RingSnapshot>> RingRegistry::list() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<const ring::RingSnapshot>> rings;
  for (const auto& [name, entry] : entries_) {
    if (entry.ring) rings.push_back(entry.ring);
  }
  return rings;
}

std::vector<RingChange> RingRegistry::history(const std::string& name) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(name);
  if (it == entries_.end()) return {};
  return {it->second.history.begin(), it->second.history.end()};
}

void RingRegistry::onChange(ChangeHandler handler) {
  std::lock_guard lock(mutex_);
  handlers_.push_back(std::move(handler));
}

}  // namespace ringlb::op
