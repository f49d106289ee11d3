#include "ringlb/operator/desired_state.h"

namespace ringlb::op {

bool DesiredState::apply(const ResourceEvent& event) {
  switch (event.kind) {
    case ResourceEvent::Kind::Upserted: {
      if (!event.ring) return false;
      const bool hadError = errors_.erase(event.key) != 0;
      invalidMetadata_.erase(event.key);
      const bool wasDeleted = deleted_.erase(event.key) != 0;
      const auto it = desired_.find(event.key);
      if (it != desired_.end() && it->second.spec == event.ring->spec && it->second.metadata == event.ring->metadata) {
        return hadError || wasDeleted;
      }
      desired_[event.key] = *event.ring;
      return true;
    }
    case ResourceEvent::Kind::Deleted: {
      const bool had = desired_.erase(event.key) != 0;
      const bool hadError = errors_.erase(event.key) != 0;
      invalidMetadata_.erase(event.key);
      if (event.key.rfind(kUnnamedResourcePrefix, 0) == 0) return hadError;
      const bool newlyDeleted = deleted_.insert(event.key).second;
      return had || hadError || newlyDeleted;
    }
    case ResourceEvent::Kind::Invalid: {
      if (event.invalidMetadata) invalidMetadata_[event.key] = *event.invalidMetadata;
      const auto it = errors_.find(event.key);
      if (it != errors_.end() && it->second == event.error) return false;
      errors_[event.key] = event.error;
      return true;
    }
  }
  return false;
}

const HashRing* DesiredState::desired(const std::string& key) const {
  const auto it = desired_.find(key);
  return it == desired_.end() ? nullptr : &it->second;
}

const ObjectMeta* DesiredState::invalidMetadata(const std::string& key) const {
  if (desired_.count(key)) return nullptr;
  const auto it = invalidMetadata_.find(key);
  return it == invalidMetadata_.end() ? nullptr : &it->second;
}

std::optional<std::string> DesiredState::error(const std::string& key) const {
  const auto it = errors_.find(key);
  if (it == errors_.end()) return std::nullopt;
  return it->second;
}

bool DesiredState::mayTearDown(const std::string& key) const {
  if (desired_.count(key)) return false;
  if (deleted_.count(key)) return true;
  return errors_.empty();
}

std::set<std::string> DesiredState::keys() const {
  std::set<std::string> keys;
  for (const auto& [key, ring] : desired_) keys.insert(key);
  for (const auto& [key, error] : errors_) {
    if (key.rfind(kUnnamedResourcePrefix, 0) != 0) keys.insert(key);
  }
  keys.insert(deleted_.begin(), deleted_.end());
  return keys;
}

}  // namespace ringlb::op
