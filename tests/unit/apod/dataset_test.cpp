#include "ringlb/apod/dataset.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "ringlb/ring/hash.h"

namespace ringlb::apod {
namespace {

std::uint64_t fingerprint(const ApodEntry& entry) { return ring::hashKey(entry.toJson(true).dump()); }

TEST(Dataset, CoversApodsFirstDayToTheFixedLastDay) {
  const Dataset dataset;
  EXPECT_EQ(dataset.first(), (CivilDate{1995, 6, 16}));
  EXPECT_EQ(dataset.last(), (CivilDate{2026, 11, 23}));
  EXPECT_EQ(dataset.size(), 11484);
  EXPECT_TRUE(dataset.contains(CivilDate{1995, 6, 16}));
  EXPECT_TRUE(dataset.contains(CivilDate{2026, 11, 23}));
  EXPECT_FALSE(dataset.contains(CivilDate{1995, 6, 15}));
  EXPECT_FALSE(dataset.contains(CivilDate{2026, 11, 24}));
}

TEST(Dataset, SameDateSameEntryAcrossInstances) {
  const Dataset a;
  const Dataset b;
  for (const auto date : {CivilDate{1995, 6, 16}, CivilDate{2012, 12, 21}, CivilDate{2026, 11, 23}}) {
    EXPECT_EQ(a.entryFor(date).toJson(true), b.entryFor(date).toJson(true)) << date.iso();
    EXPECT_EQ(a.entryFor(date).toJson(true), a.entryFor(date).toJson(true)) << date.iso();
  }
}

// Golden values: the dataset must be identical on every machine, compiler and run. A change to
// the word lists or the generator shows up here and must be deliberate.
TEST(Dataset, GoldenEntries) {
  const Dataset dataset;
  const auto first = dataset.entryFor(CivilDate{1995, 6, 16});
  EXPECT_EQ(first.title, "Comet Tail over the Atacama Desert");
  EXPECT_EQ(first.mediaType, MediaType::kVideo);
  EXPECT_EQ(fingerprint(first), 0x10f00919f55b290bULL);
  const auto y2k = dataset.entryFor(CivilDate{2000, 1, 1});
  EXPECT_EQ(y2k.title, "Cosmic Iris Nebula");
  EXPECT_EQ(fingerprint(y2k), 0xd0164fd816b5f6bbULL);
  const auto last = dataset.entryFor(CivilDate{2026, 11, 23});
  EXPECT_EQ(last.title, "Comet M75 over the Pyrenees");
  EXPECT_EQ(fingerprint(last), 0x4c9032cce7025f9aULL);

  std::uint64_t all = 0;
  for (auto day = dataset.first().dayNumber(); day <= dataset.last().dayNumber(); ++day) {
    all ^= fingerprint(dataset.entryFor(CivilDate::fromDayNumber(day))) * static_cast<std::uint64_t>(day | 1);
  }
  EXPECT_EQ(all, 0x8bcad0943156d51aULL);
}

TEST(Dataset, EveryEntryHasTheApisShape) {
  const Dataset dataset;
  std::size_t videos = 0;
  std::size_t copyrighted = 0;
  std::set<std::string> titles;
  for (auto day = dataset.first().dayNumber(); day <= dataset.last().dayNumber(); ++day) {
    const auto date = CivilDate::fromDayNumber(day);
    const auto entry = dataset.entryFor(date);
    const auto json = entry.toJson();
    ASSERT_EQ(json.at("date"), date.iso());
    ASSERT_FALSE(entry.title.empty());
    ASSERT_GE(entry.explanation.size(), 60U) << date.iso();
    ASSERT_EQ(json.at("service_version"), "v1");
    ASSERT_EQ(entry.url.rfind("https://", 0), 0U);
    if (entry.mediaType == MediaType::kImage) {
      ASSERT_EQ(json.at("media_type"), "image");
      ASSERT_TRUE(json.contains("hdurl")) << date.iso();
    } else {
      ++videos;
      ASSERT_EQ(json.at("media_type"), "video");
      ASSERT_FALSE(json.contains("hdurl")) << date.iso();
      ASSERT_FALSE(json.contains("thumbnail_url"));
      ASSERT_TRUE(entry.toJson(true).contains("thumbnail_url"));
    }
    if (json.contains("copyright")) ++copyrighted;
    titles.insert(entry.title);
  }
  const auto n = static_cast<double>(dataset.size());
  EXPECT_GT(videos / n, 0.03);
  EXPECT_LT(videos / n, 0.10);
  EXPECT_GT(copyrighted / n, 0.30);
  EXPECT_LT(copyrighted / n, 0.60);
  EXPECT_GT(titles.size() / n, 0.5) << "titles should rarely repeat";
}

TEST(Dataset, NeighbouringDaysDiffer) {
  const Dataset dataset;
  const CivilDate a{2010, 5, 1};
  const CivilDate b{2010, 5, 2};
  EXPECT_NE(dataset.entryFor(a).toJson(), dataset.entryFor(b).toJson());
}

}  // namespace
}  // namespace ringlb::apod
