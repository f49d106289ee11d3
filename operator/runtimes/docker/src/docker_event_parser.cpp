#include "ringlb/operator/docker_event_parser.h"

#include <limits>

#include <nlohmann/json.hpp>

namespace ringlb::op {

namespace {
// A daemon never sends an event this large; a stream that does is broken.
constexpr std::size_t kMaxEventBytes = 1U << 20U;

std::string stringField(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

Result<DockerEvent> parseDockerEvent(std::string_view json) {
  const auto parsed = nlohmann::json::parse(json, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Error{"Docker event is not a JSON object: " + std::string(json.substr(0, 200))};
  }
  DockerEvent event;
  event.type = stringField(parsed, "Type");
  event.action = stringField(parsed, "Action");
  if (event.type.empty() || event.action.empty()) {
    return Error{"Docker event lacks Type or Action: " + std::string(json.substr(0, 200))};
  }
  if (const auto actor = parsed.find("Actor"); actor != parsed.end() && actor->is_object()) {
    event.id = stringField(*actor, "ID");
    if (const auto attrs = actor->find("Attributes"); attrs != actor->end() && attrs->is_object()) {
      for (const auto& [key, value] : attrs->items()) {
        if (value.is_string()) event.attributes.emplace(key, value.get<std::string>());
      }
    }
  }
  if (event.id.empty()) event.id = stringField(parsed, "id");  // pre-1.22 field, kept by the daemon
  if (const auto t = parsed.find("timeNano"); t != parsed.end() && t->is_number_integer()) {
    event.timeNano = t->get<std::int64_t>();
  } else if (const auto s = parsed.find("time"); s != parsed.end() && s->is_number_integer()) {
    // Seconds beyond what nanoseconds can hold (past the year 2262) leave the time unknown (0).
    constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1'000'000'000;
    const auto seconds = s->get<std::int64_t>();
    if (seconds >= -kMaxSeconds && seconds <= kMaxSeconds) event.timeNano = seconds * 1'000'000'000;
  }
  return event;
}

std::vector<Result<DockerEvent>> DockerEventParser::feed(std::string_view bytes) {
  std::vector<Result<DockerEvent>> events;
  for (const char c : bytes) {
    if (depth_ == 0) {
      // Between objects only whitespace belongs; a run of anything else is
      // reported once, however the bytes were split.
      if (c == '{') {
        buffer_.assign(1, c);
        depth_ = 1;
        inGarbage_ = false;
      } else if (c == '\n') {
        inGarbage_ = false;
      } else if (c != '\r' && c != ' ' && c != '\t' && !inGarbage_) {
        inGarbage_ = true;
        events.emplace_back(Error{"unexpected data between Docker events"});
      }
      continue;
    }
    if (!oversized_) buffer_.push_back(c);
    if (inString_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        inString_ = false;
      }
    } else if (c == '"') {
      inString_ = true;
    } else if (c == '{' || c == '[') {
      ++depth_;
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        if (oversized_) {
          events.emplace_back(Error{"Docker event larger than 1 MiB; dropped"});
        } else {
          events.push_back(parseDockerEvent(buffer_));
        }
        buffer_.clear();
        oversized_ = false;
      }
    }
    if (!oversized_ && buffer_.size() > kMaxEventBytes) {
      // Keep tracking depth to find the object's end, but hold no more bytes.
      oversized_ = true;
      buffer_.clear();
      buffer_.shrink_to_fit();
    }
  }
  return events;
}

void DockerEventParser::reset() {
  buffer_.clear();
  depth_ = 0;
  inString_ = false;
  escaped_ = false;
  inGarbage_ = false;
  oversized_ = false;
}

}  // namespace ringlb::op
