#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/base/result.h"

namespace ringlb::op {

/// One message of the Engine API's /events stream.
struct DockerEvent {
  std::string type;    // "container", "image", ...
  std::string action;  // "die", "oom", "destroy", "start", ...
  std::string id;      // Actor.ID: the container id
  std::map<std::string, std::string> attributes;  // Actor.Attributes: labels, name, exitCode
  std::int64_t timeNano = 0;
};

/// Splits the /events body into JSON objects however the bytes arrive (one
/// object per read, several per read, or one split across many reads) and
/// decodes each. Not thread-safe: one parser per stream.
class DockerEventParser {
 public:
  /// Consumes `bytes` and returns the events completed by them, in order.
  /// A malformed object is reported as an Error in its place and skipped; the
  /// stream stays usable after it.
  std::vector<Result<DockerEvent>> feed(std::string_view bytes);

  /// Forgets a partial object (after a reconnect).
  void reset();

  /// Bytes held for an object not yet complete.
  std::size_t pending() const noexcept { return buffer_.size(); }

 private:
  std::string buffer_;
  int depth_ = 0;
  bool inString_ = false;
  bool escaped_ = false;
  bool inGarbage_ = false;
  bool oversized_ = false;
};

/// Decodes one /events JSON object. Returns an Error naming what is missing.
Result<DockerEvent> parseDockerEvent(std::string_view json);

}  // namespace ringlb::op
