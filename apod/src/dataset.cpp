#include "ringlb/apod/dataset.h"

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

#include "astronomy_words.h"
#include "ringlb/ring/hash.h"

namespace ringlb::apod {
namespace {

// Where generated media "live". The .invalid TLD (RFC 2606) makes it plain that the links are
// synthetic and can never resolve to someone else's server.
constexpr std::string_view kMediaBase = "https://apod.ringlb.invalid";

// SplitMix64: tiny, well mixed and fully specified, so the sequence is the same everywhere.
class EntryGenerator {
 public:
  explicit EntryGenerator(std::uint64_t seed) noexcept : state_{seed} {}

  std::uint64_t next() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// Uniform-enough integer in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n) noexcept { return next() % n; }
  /// In [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept { return lo + below(hi - lo + 1); }
  /// True with probability percent/100.
  bool chance(unsigned percent) noexcept { return below(100) < percent; }
  std::string_view pick(std::span<const std::string_view> list) noexcept { return list[below(list.size())]; }

 private:
  std::uint64_t state_;
};

std::string catalogName(EntryGenerator& gen) {
  switch (gen.below(3)) {
    case 0: return "NGC " + std::to_string(gen.between(1, 7840));
    case 1: return "M" + std::to_string(gen.between(1, 110));
    default: return "IC " + std::to_string(gen.between(1, 5386));
  }
}

// A subject and its title share one object so that the explanation talks about the title.
std::string subject(EntryGenerator& gen) {
  if (gen.chance(55)) return std::string(gen.pick(words::kNamedObjects));
  return std::string(gen.pick(words::kObjectKinds)) + " " + catalogName(gen);
}

std::string capitalized(std::string text) {
  if (text.rfind("the ", 0) == 0) text[0] = 'T';
  return text;
}

std::string title(EntryGenerator& gen, const std::string& subj, std::string_view phenomenon) {
  switch (gen.below(7)) {
    case 0: return capitalized(subj);
    case 1: return std::string(gen.pick(words::kAdjectives)) + " " + capitalized(subj);
    case 2: return capitalized(subj) + " over " + std::string(gen.pick(words::kPlaces));
    case 3: return std::string(phenomenon) + " over " + std::string(gen.pick(words::kPlaces));
    case 4: return capitalized(subj) + " from " + std::string(gen.pick(words::kObservatories));
    case 5: return std::string(phenomenon) + " and " + capitalized(subj);
    default: return "The " + std::string(gen.pick(words::kAdjectives)) + " Sky of " +
                    std::string(gen.pick(words::kConstellations));
  }
}

std::string sentence(EntryGenerator& gen, const std::string& subj, std::string_view phenomenon) {
  switch (gen.below(9)) {
    case 0:
      return "What is happening in " + subj + "?";
    case 1:
      return capitalized(subj) + " lies about " + std::to_string(gen.between(2, 900) * 100) +
             " light-years away toward the constellation " + std::string(gen.pick(words::kConstellations)) + ".";
    case 2:
      return "The " + std::string(gen.pick(words::kFeatures)) + " seen here " +
             std::string(gen.pick(words::kProcesses)) + ".";
    case 3:
      return "This " + std::string(gen.chance(50) ? "image" : "mosaic") + " was captured by " +
             std::string(gen.pick(words::kObservatories)) + " over " + std::to_string(gen.between(2, 40)) +
             " hours of exposure.";
    case 4:
      return "Astronomers think the " + std::string(gen.pick(words::kFeatures)) + " " +
             std::string(gen.pick(words::kProcesses)) + ".";
    case 5:
      return "The featured field spans about " + std::to_string(gen.between(3, 300)) + " light-years.";
    case 6:
      return "In the foreground, " + std::string(gen.pick(words::kForegrounds)) + " stands beneath the " +
             std::string(phenomenon) + ".";
    case 7:
      return "Cataloged as " + catalogName(gen) + ", it is best seen from " +
             std::string(gen.pick(words::kPlaces)) + " in " +
             std::string(gen.chance(50) ? "northern" : "southern") + " " +
             std::string(gen.chance(50) ? "summer" : "winter") + ".";
    default:
      return "Next " + std::string(gen.chance(50) ? "month" : "year") + ", " +
             std::string(gen.pick(words::kPhenomena)) + " will again be visible from " +
             std::string(gen.pick(words::kPlaces)) + ".";
  }
}

// "Orion Nebula over La Palma" -> "OrionNebulaOverLaPalma", cut to a file-name-sized slug.
std::string slug(std::string_view text) {
  std::string out;
  bool upper = true;
  for (const char c : text) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum) {
      upper = true;
      continue;
    }
    out.push_back(upper && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
    upper = false;
    if (out.size() >= 28) break;
  }
  return out;
}

}  // namespace

ApodEntry Dataset::entryFor(CivilDate date) const {
  const std::string iso = date.iso();
  EntryGenerator gen{ring::hashKey("ringlb-apod/" + iso)};

  ApodEntry entry{date};
  const std::string subj = subject(gen);
  const std::string_view phenomenon = gen.pick(words::kPhenomena);
  entry.title = title(gen, subj, phenomenon);

  const auto sentences = gen.between(3, 6);
  for (std::uint64_t i = 0; i < sentences; ++i) {
    if (i > 0) entry.explanation.push_back(' ');
    entry.explanation += sentence(gen, subj, phenomenon);
  }

  char month[8];
  std::snprintf(month, sizeof month, "%02d%02u", date.year() % 100, date.month());
  const std::string name = slug(entry.title) + "_" + std::to_string(gen.between(100, 999));
  const std::string base = std::string(kMediaBase) + "/image/" + month + "/" + name;
  if (gen.chance(6)) {
    entry.mediaType = MediaType::kVideo;
    entry.url = base + ".mp4";
    entry.thumbnailUrl = base + "_thumb.jpg";
  } else {
    entry.mediaType = MediaType::kImage;
    entry.url = base + "_1024.jpg";
    entry.hdUrl = base + "_4096.jpg";
  }
  if (gen.chance(45)) {
    std::string owner = std::string(gen.pick(words::kFirstNames)) + " " + std::string(gen.pick(words::kLastNames));
    if (gen.chance(25)) {
      owner += " & " + std::string(gen.pick(words::kFirstNames)) + " " + std::string(gen.pick(words::kLastNames));
    }
    entry.copyright = std::move(owner);
  }
  return entry;
}

}  // namespace ringlb::apod
