#pragma once

#include <cstdint>
#include <vector>

namespace ringlb::proxy {

/// A per-worker heavy-hitter detector over key hashes: a count-min sketch
/// (Cormode and Muthukrishnan 2005) with conservative update, whose counters
/// halve every `window` requests, so a key is hot only while it keeps its
/// share. A hot key's requests are spread over its first `spread` distinct
/// eligible successors. Not thread-safe: one per worker thread.
class HotKeySketch {
 public:
  struct Options {
    double share = 0.0;          // a key with at least this share of recent requests is hot; 0 turns it off
    std::uint32_t spread = 4;    // members a hot key's requests are spread over (≥ 2)
    std::uint32_t window = 8192; // requests between halvings
  };

  explicit HotKeySketch(Options options);

  /// Counts one request for `hash`. Returns how many members it should be
  /// spread over: 1 when the key is not hot (or the sketch is off).
  std::uint32_t observe(std::uint64_t hash) noexcept;

  /// Whether `hash` is hot now, without counting it.
  bool hot(std::uint64_t hash) const noexcept;

  /// The estimated number of recent requests for `hash` (never below the true decayed count).
  std::uint64_t estimate(std::uint64_t hash) const noexcept;

  /// Recent requests in all (decayed like the counters).
  std::uint64_t total() const noexcept { return total_; }

  bool enabled() const noexcept { return options_.share > 0.0; }
  const Options& options() const noexcept { return options_; }

 private:
  static constexpr std::uint32_t kRows = 4;
  std::uint32_t column(std::uint32_t row, std::uint64_t hash) const noexcept;
  void halve() noexcept;

  Options options_;
  std::uint32_t columns_ = 0;  // a power of two
  std::vector<std::uint32_t> counters_;  // kRows × columns_
  std::uint64_t total_ = 0;
  std::uint64_t minimumTotal_ = 0;  // a hot key has at least 8 requests in the window
  std::uint32_t sinceHalving_ = 0;
};

}  // namespace ringlb::proxy
