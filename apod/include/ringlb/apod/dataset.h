#pragma once

#include "ringlb/apod/apod_entry.h"
#include "ringlb/apod/civil_date.h"

namespace ringlb::apod {

/// APOD's first day; the real API rejects earlier dates.
inline constexpr CivilDate kFirstApodDate{1995, 6, 16};
/// The last day of the bundled dataset. It is fixed (not "today") so that every machine and
/// every run serves the same dates.
inline constexpr CivilDate kLastDatasetDate{2026, 11, 23};

/// The offline APOD dataset: one generated entry per day in [first, last].
///
/// Entries are a pure function of the date: word lists of astronomy terms are combined by a
/// generator seeded with XXH3-64 of the ISO date, and the generator maps hashes to choices with
/// fixed arithmetic only (no std distributions, whose output differs between standard libraries).
/// The same date therefore yields the same entry on every machine, build and run.
/// Immutable after construction; safe to share between threads.
class Dataset {
 public:
  /// The full dataset, kFirstApodDate .. kLastDatasetDate.
  Dataset() noexcept : Dataset(kFirstApodDate, kLastDatasetDate) {}
  /// A dataset over [first, last]; requires first <= last.
  Dataset(CivilDate first, CivilDate last) noexcept : first_{first}, last_{last} {}

  [[nodiscard]] CivilDate first() const noexcept { return first_; }
  [[nodiscard]] CivilDate last() const noexcept { return last_; }
  /// Number of days (entries) in the dataset.
  [[nodiscard]] std::int64_t size() const noexcept { return last_.dayNumber() - first_.dayNumber() + 1; }
  [[nodiscard]] bool contains(CivilDate date) const noexcept { return date >= first_ && date <= last_; }

  /// The entry for `date`. Requires contains(date); does not allocate shared state; thread-safe.
  [[nodiscard]] ApodEntry entryFor(CivilDate date) const;

 private:
  CivilDate first_;
  CivilDate last_;
};

}  // namespace ringlb::apod
