#include <gtest/gtest.h>

#include "ringlb/base/percent_encoding.h"

namespace ringlb {
namespace {

TEST(PercentEncode, KeepsUnreservedOnly) {
  EXPECT_EQ(percentEncode("2020-01-01"), "2020-01-01");
  EXPECT_EQ(percentEncode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(percentEncode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percentEncode(std::string_view{"\0\xff", 2}), "%00%FF");
}

TEST(PercentEncode, EscapesKubernetesSelectorPunctuation) {
  EXPECT_EQ(percentEncode("ringlb.dev/ring,app.kubernetes.io/managed-by=ringlb-operator"),
            "ringlb.dev%2Fring%2Capp.kubernetes.io%2Fmanaged-by%3Dringlb-operator");
}

TEST(HexDigitValue, ReadsBothCasesAndRejectsTheRest) {
  EXPECT_EQ(hexDigitValue('0'), 0);
  EXPECT_EQ(hexDigitValue('9'), 9);
  EXPECT_EQ(hexDigitValue('a'), 10);
  EXPECT_EQ(hexDigitValue('F'), 15);
  EXPECT_EQ(hexDigitValue('g'), -1);
  EXPECT_EQ(hexDigitValue('/'), -1);
  EXPECT_EQ(hexDigitValue('\0'), -1);
}

}  // namespace
}  // namespace ringlb
