#include "ringlb/apod/apod_entry.h"

namespace ringlb::apod {

nlohmann::json ApodEntry::toJson(bool withThumbnail) const {
  nlohmann::json j = {
      {"date", date.iso()},
      {"title", title},
      {"explanation", explanation},
      {"url", url},
      {"media_type", mediaType == MediaType::kImage ? "image" : "video"},
      {"service_version", kServiceVersion},
  };
  if (hdUrl) j["hdurl"] = *hdUrl;
  if (copyright) j["copyright"] = *copyright;
  if (withThumbnail && thumbnailUrl) j["thumbnail_url"] = *thumbnailUrl;
  return j;
}

}  // namespace ringlb::apod
