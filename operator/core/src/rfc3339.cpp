#include "ringlb/operator/rfc3339.h"

#include <cstdio>
#include <ctime>

namespace ringlb::op {

std::string formatRfc3339(std::chrono::system_clock::time_point time, bool micro) {
  const auto sinceEpoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(sinceEpoch);
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[40];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buffer);
  if (micro) {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(sinceEpoch - seconds).count();
    char fraction[24];  // room for any long long, though micros is 0..999999
    std::snprintf(fraction, sizeof fraction, ".%06lld", static_cast<long long>(micros));
    out += fraction;
  }
  out += 'Z';
  return out;
}

Result<std::chrono::system_clock::time_point> parseRfc3339(std::string_view text) {
  const std::string original(text);
  auto fail = [&]() -> Result<std::chrono::system_clock::time_point> {
    return Error{"invalid RFC 3339 time '" + original + "'"};
  };
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(original.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return fail();
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::string_view rest = text.substr(19);
  std::chrono::microseconds fraction{0};
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    std::int64_t micros = 0;
    int digitsSeen = 0;
    while (!rest.empty() && rest.front() >= '0' && rest.front() <= '9') {
      if (digitsSeen < 6) {
        micros = micros * 10 + (rest.front() - '0');
        ++digitsSeen;
      }
      rest.remove_prefix(1);
    }
    if (digitsSeen == 0) return fail();
    while (digitsSeen++ < 6) micros *= 10;
    fraction = std::chrono::microseconds(micros);
  }
  std::chrono::seconds offset{0};
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    const int hours = (rest[1] - '0') * 10 + (rest[2] - '0');
    const int minutes = (rest[4] - '0') * 10 + (rest[5] - '0');
    offset = std::chrono::hours(hours) + std::chrono::minutes(minutes);
    if (rest[0] == '-') offset = -offset;
  } else {
    return fail();
  }
  const std::time_t t = timegm(&tm);
  return std::chrono::system_clock::time_point(std::chrono::seconds(t) - offset) + fraction;
}

}  // namespace ringlb::op
