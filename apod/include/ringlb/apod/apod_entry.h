#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "ringlb/apod/civil_date.h"

namespace ringlb::apod {

/// The API's version string, carried in every body the real service returns.
inline constexpr const char* kServiceVersion = "v1";

enum class MediaType { kImage, kVideo };

/// One Astronomy Picture of the Day, with the fields of the real API's JSON object.
struct ApodEntry {
  explicit ApodEntry(CivilDate day) noexcept : date{day} {}

  CivilDate date;
  std::string title;
  std::string explanation;
  MediaType mediaType = MediaType::kImage;
  std::string url;
  std::optional<std::string> hdUrl;         // images only
  std::optional<std::string> thumbnailUrl;  // videos only
  std::optional<std::string> copyright;     // absent for public-domain entries

  /// The JSON object the API serves: date, title, explanation, url, media_type,
  /// service_version, plus hdurl / copyright when present. `withThumbnail` adds
  /// thumbnail_url for videos (the API's `thumbs=true`).
  [[nodiscard]] nlohmann::json toJson(bool withThumbnail = false) const;
};

}  // namespace ringlb::apod
