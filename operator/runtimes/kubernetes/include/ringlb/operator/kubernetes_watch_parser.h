#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringlb/base/result.h"

namespace ringlb::op {

/// One decoded watch event: {"type": ..., "object": ...}.
struct WatchEvent {
  enum class Type : std::uint8_t { Added, Modified, Deleted, Bookmark, Error };
  Type type = Type::Added;
  nlohmann::json object;
};

std::string_view toString(WatchEvent::Type type) noexcept;

/// Splits a watch response body (newline-delimited JSON, delivered in
/// arbitrary pieces) into events. An object may span any number of pieces.
/// Not thread-safe; one parser per stream.
class WatchStreamParser {
 public:
  /// A line longer than this is an error rather than unbounded growth.
  static constexpr std::size_t kMaxLineBytes = 64u << 20;

  /// Consumes `bytes`, appending every completed event to `out`. Returns an
  /// Error naming the problem for a malformed line; events decoded before it
  /// are still appended and the parser stays usable for the next line.
  Status feed(std::string_view bytes, std::vector<WatchEvent>& out);

  /// True when bytes of an unfinished line are buffered.
  bool hasPartialLine() const noexcept { return !pending_.empty(); }

  /// Drops any buffered partial line (the stream was reconnected).
  void reset() noexcept { pending_.clear(); }

 private:
  Status decodeLine(std::string_view line, std::vector<WatchEvent>& out) const;

  std::string pending_;
};

}  // namespace ringlb::op
