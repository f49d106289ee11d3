#include "ringlb/apod/apod_service.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace ringlb::apod {
namespace {

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

ApodService::ApodService(Dataset dataset, RandomSource random) : dataset_{dataset}, random_{std::move(random)} {}

ApiReply ApodService::answer(const QueryParams& params) const {
  auto query = parseApodQuery(params, bounds());
  if (!query) return ApiReply::error(400, query.error());
  return answer(query.value());
}

ApiReply ApodService::answer(const ApodQuery& query) const {
  const auto outOfRange = [this](CivilDate d) { return !dataset_.contains(d); };
  const auto rangeError = [this] {
    return ApiReply::error(400, "Date must be between " + dataset_.first().display() + " and " +
                                    dataset_.last().display() + ".");
  };

  switch (query.kind) {
    case ApodQuery::Kind::kLatest:
      return ApiReply{200, dump(dataset_.entryFor(dataset_.last()).toJson(query.thumbs))};

    case ApodQuery::Kind::kDate:
      if (!query.date || outOfRange(*query.date)) return rangeError();
      return ApiReply{200, dump(dataset_.entryFor(*query.date).toJson(query.thumbs))};

    case ApodQuery::Kind::kRange: {
      const CivilDate end = query.end.value_or(dataset_.last());
      if (!query.start || outOfRange(*query.start) || outOfRange(end)) return rangeError();
      if (*query.start > end) return ApiReply::error(400, "start_date cannot be after end_date");
      nlohmann::json list = nlohmann::json::array();
      for (auto day = query.start->dayNumber(); day <= end.dayNumber(); ++day) {
        list.push_back(dataset_.entryFor(CivilDate::fromDayNumber(day)).toJson(query.thumbs));
      }
      return ApiReply{200, dump(list)};
    }

    case ApodQuery::Kind::kRandom: {
      if (query.count <= 0 || query.count > kMaxCount) {
        return ApiReply::error(400, "Count must be positive and cannot exceed 100");
      }
      // Distinct days, like the real API's shuffle of all dates; a small dataset gives all it has.
      const auto size = static_cast<std::uint64_t>(dataset_.size());
      const auto wanted = std::min<std::uint64_t>(static_cast<std::uint64_t>(query.count), size);
      std::vector<std::int64_t> days;
      days.reserve(wanted);
      const auto firstDay = dataset_.first().dayNumber();
      while (days.size() < wanted) {
        const auto day = firstDay + static_cast<std::int64_t>(random_() % size);
        if (std::find(days.begin(), days.end(), day) == days.end()) days.push_back(day);
      }
      nlohmann::json list = nlohmann::json::array();
      for (const auto day : days) list.push_back(dataset_.entryFor(CivilDate::fromDayNumber(day)).toJson(query.thumbs));
      return ApiReply{200, dump(list)};
    }
  }
  return ApiReply::error(500, "Internal Service Error");
}

}  // namespace ringlb::apod
