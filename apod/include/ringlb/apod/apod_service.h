#pragma once

#include <cstdint>
#include <functional>

#include "ringlb/apod/api_reply.h"
#include "ringlb/apod/apod_query.h"
#include "ringlb/apod/dataset.h"
#include "ringlb/apod/query_params.h"

namespace ringlb::apod {

/// Answers `GET /planetary/apod` from the offline dataset.
class ApodService {
 public:
  /// Returns uniformly random 64-bit values; used only to choose the dates of `count` requests.
  /// Must be callable from any thread the service is called from.
  using RandomSource = std::function<std::uint64_t()>;

  ApodService(Dataset dataset, RandomSource random);

  /// Validates `params` against the dataset's bounds and answers: one object for date/latest,
  /// an array for ranges and counts, or a 400 error. Never throws; thread-safe if the random
  /// source is.
  [[nodiscard]] ApiReply answer(const QueryParams& params) const;

  /// Answers an already parsed query; dates outside the dataset give the 400 range error.
  [[nodiscard]] ApiReply answer(const ApodQuery& query) const;

  [[nodiscard]] DateBounds bounds() const noexcept { return {dataset_.first(), dataset_.last()}; }
  [[nodiscard]] const Dataset& dataset() const noexcept { return dataset_; }

 private:
  Dataset dataset_;
  RandomSource random_;
};

}  // namespace ringlb::apod
