#pragma once

#include <span>
#include <string_view>

// Word lists the offline dataset is generated from. Private to the apod library.
// Changing any list changes every generated entry: the dataset tests pin a few entries so that
// such a change is a deliberate one.
namespace ringlb::apod::words {

extern const std::span<const std::string_view> kNamedObjects;
extern const std::span<const std::string_view> kObjectKinds;
extern const std::span<const std::string_view> kAdjectives;
extern const std::span<const std::string_view> kPlaces;
extern const std::span<const std::string_view> kPhenomena;
extern const std::span<const std::string_view> kConstellations;
extern const std::span<const std::string_view> kObservatories;
extern const std::span<const std::string_view> kFeatures;
extern const std::span<const std::string_view> kProcesses;
extern const std::span<const std::string_view> kForegrounds;
extern const std::span<const std::string_view> kFirstNames;
extern const std::span<const std::string_view> kLastNames;

}  // namespace ringlb::apod::words
