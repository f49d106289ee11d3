#include "ringlb/operator/kubernetes_watch_parser.h"

namespace ringlb::op {

std::string_view toString(WatchEvent::Type type) noexcept {
  switch (type) {
    case WatchEvent::Type::Added: return "ADDED";
    case WatchEvent::Type::Modified: return "MODIFIED";
    case WatchEvent::Type::Deleted: return "DELETED";
    case WatchEvent::Type::Bookmark: return "BOOKMARK";
    case WatchEvent::Type::Error: return "ERROR";
  }
  return "UNKNOWN";
}

Status WatchStreamParser::feed(std::string_view bytes, std::vector<WatchEvent>& out) {
  Status result = ok();
  while (!bytes.empty()) {
    const std::size_t newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      if (pending_.size() + bytes.size() > kMaxLineBytes) {
        pending_.clear();
        return Error{"watch stream: a line exceeds " + std::to_string(kMaxLineBytes) + " bytes"};
      }
      pending_.append(bytes);
      break;
    }
    Status line = ok();
    if (pending_.empty()) {
      line = decodeLine(bytes.substr(0, newline), out);
    } else {
      pending_.append(bytes.substr(0, newline));
      line = decodeLine(pending_, out);
      pending_.clear();
    }
    if (!line && result) result = std::move(line);
    bytes.remove_prefix(newline + 1);
  }
  return result;
}

Status WatchStreamParser::decodeLine(std::string_view line, std::vector<WatchEvent>& out) const {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  if (line.empty()) return ok();  // keep-alive blank lines

  nlohmann::json document = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) {
    return Error{"watch stream: line is not a JSON object: " + std::string(line.substr(0, 120))};
  }
  const auto typeIt = document.find("type");
  if (typeIt == document.end() || !typeIt->is_string()) return Error{"watch stream: event has no string 'type'"};
  const auto objectIt = document.find("object");
  if (objectIt == document.end() || !objectIt->is_object()) {
    return Error{"watch stream: " + typeIt->get<std::string>() + " event has no 'object'"};
  }
  const std::string& typeText = typeIt->get_ref<const std::string&>();
  WatchEvent event;
  if (typeText == "ADDED") {
    event.type = WatchEvent::Type::Added;
  } else if (typeText == "MODIFIED") {
    event.type = WatchEvent::Type::Modified;
  } else if (typeText == "DELETED") {
    event.type = WatchEvent::Type::Deleted;
  } else if (typeText == "BOOKMARK") {
    event.type = WatchEvent::Type::Bookmark;
  } else if (typeText == "ERROR") {
    event.type = WatchEvent::Type::Error;
  } else {
    return Error{"watch stream: unknown event type '" + typeText + "'"};
  }
  event.object = std::move(*objectIt);
  out.push_back(std::move(event));
  return ok();
}

}  // namespace ringlb::op
