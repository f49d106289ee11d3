#include "ringlb/base/json_string.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>

namespace ringlb {
namespace {

using namespace std::string_literals;

// Wrapped in quotes, the escaped text must parse as JSON and, when it was UTF-8, read back unchanged.
std::string roundTrip(std::string_view text) {
  return nlohmann::json::parse("\"" + jsonEscape(text) + "\"").get<std::string>();
}

TEST(JsonEscape, EscapesQuotesBackslashesAndNamedControls) {
  EXPECT_EQ(jsonEscape(R"(say "hi" \o/)"), R"(say \"hi\" \\o/)");
  EXPECT_EQ(jsonEscape("a\nb\rc\td\be\ff"), R"(a\nb\rc\td\be\ff)");
}

TEST(JsonEscape, EscapesOtherControlBytesAsUnicode) {
  EXPECT_EQ(jsonEscape("\x01\x1b[31m\x1f"s), R"(\u0001\u001b[31m\u001f)");
  EXPECT_EQ(jsonEscape("nul\0byte"s), R"(nul\u0000byte)");
  EXPECT_EQ(jsonEscape("\x7f"), "\x7f");  // DEL is valid in a JSON string
}

TEST(JsonEscape, KeepsWellFormedUtf8) {
  const std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x9A\x80 \xEF\xBF\xBF \xF4\x8F\xBF\xBF";
  EXPECT_EQ(jsonEscape(text), text);
  EXPECT_EQ(roundTrip(text), text);
}

TEST(JsonEscape, ReplacesEachByteOfIllFormedUtf8) {
  EXPECT_EQ(jsonEscape("\xff"), R"(\ufffd)");
  EXPECT_EQ(jsonEscape("a\xC3"), R"(a\ufffd)");                  // truncated sequence
  EXPECT_EQ(jsonEscape("\xC3(x"), R"(\ufffd(x)");                // bad continuation
  EXPECT_EQ(jsonEscape("\xC0\xAF"), R"(\ufffd\ufffd)");          // overlong '/'
  EXPECT_EQ(jsonEscape("\xE0\x80\xAF"), R"(\ufffd\ufffd\ufffd)");  // overlong, three bytes
  EXPECT_EQ(jsonEscape("\xED\xA0\x80"), R"(\ufffd\ufffd\ufffd)");  // a UTF-16 surrogate
  EXPECT_EQ(jsonEscape("\xF4\x90\x80\x80"), R"(\ufffd\ufffd\ufffd\ufffd)");  // above U+10FFFF
  EXPECT_EQ(jsonEscape("\x80"), R"(\ufffd)");                    // a lone continuation byte
  EXPECT_EQ(roundTrip("x\xfe\xffy"), "x\xEF\xBF\xBD\xEF\xBF\xBDy");
}

TEST(JsonEscape, AppendsToWhatIsThere) {
  std::string out = "prefix:";
  appendJsonEscaped(out, "\"");
  EXPECT_EQ(out, R"(prefix:\")");
}

}  // namespace
}  // namespace ringlb
