#include "chunked_decoder.h"

#include <algorithm>
#include <cstring>

#include "ringlb/base/percent_encoding.h"

namespace ringlb::proxy {

namespace {

bool isToken(unsigned char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

// Extension and trailer-value bytes: HTAB, SP, VCHAR, obs-text.
bool isFieldByte(unsigned char c) noexcept { return c == '\t' || (c >= 0x20 && c != 0x7f); }

}  // namespace

ChunkedDecoder::Step ChunkedDecoder::fail(std::size_t consumed, std::string_view why) noexcept {
  state_ = State::Error;
  error_ = why;
  return {consumed, Status::Error};
}

ChunkedDecoder::Step ChunkedDecoder::decodeInPlace(std::span<char> input, std::size_t& payload) noexcept {
  return decode(input, payload, nullptr);  // no trailers kept: nothing allocates
}

ChunkedDecoder::Step ChunkedDecoder::decodeInPlace(std::span<char> input, std::size_t& payload, std::string& trailers) {
  return decode(input, payload, &trailers);
}

ChunkedDecoder::Step ChunkedDecoder::decode(std::span<char> input, std::size_t& payload, std::string* trailers) {
  payload = 0;
  std::size_t i = 0;
  while (i < input.size()) {
    if (state_ == State::Data) {
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, input.size() - i));
      std::memmove(input.data() + payload, input.data() + i, take);
      payload += take;
      i += take;
      remaining_ -= take;
      payload_ += take;
      if (remaining_ == 0) state_ = State::DataCr;
      continue;
    }
    // Framing bytes go through feed() one at a time: there are few of them.
    const State before = state_;
    const char c = input[i];
    const Step step = feed({input.data() + i, 1});
    i += step.consumed;
    if (trailers != nullptr) {
      const bool trailerByte =
          before == State::Trailer || before == State::TrailerLf || (before == State::TrailerStart && c != '\r');
      if (trailerByte && step.consumed == 1 && state_ != State::Error) trailers->push_back(c);
    }
    if (step.status != Status::Incomplete) return {i, step.status};
  }
  return {i, Status::Incomplete};
}

ChunkedDecoder::Step ChunkedDecoder::feed(std::string_view input) noexcept {
  std::size_t i = 0;
  const std::size_t n = input.size();
  while (i < n) {
    const char c = input[i];
    switch (state_) {
      case State::Size: {
        const int v = hexDigitValue(c);
        if (v >= 0) {
          if (++digits_ > 16) return fail(i, "chunk size too large");
          remaining_ = (remaining_ << 4) | static_cast<unsigned>(v);
          ++i;
          break;
        }
        if (digits_ == 0) return fail(i, "invalid chunk size");
        if (c == '\r') {
          state_ = State::SizeLf;
        } else if (c == ';') {
          state_ = State::Extension;
          lineBytes_ = 0;
        } else if (c == ' ' || c == '\t') {
          state_ = State::SizeWs;
        } else {
          return fail(i, "invalid chunk size");
        }
        ++i;
        break;
      }
      case State::SizeWs:
        if (c == ';') {
          state_ = State::Extension;
          lineBytes_ = 0;
        } else if (c != ' ' && c != '\t') {
          return fail(i, "invalid chunk size");
        }
        ++i;
        break;
      case State::Extension:
        if (c == '\r') {
          state_ = State::SizeLf;
        } else if (!isFieldByte(static_cast<unsigned char>(c))) {
          return fail(i, "invalid chunk extension");
        } else if (++lineBytes_ > kMaxExtension) {
          return fail(i, "chunk extension too long");
        }
        ++i;
        break;
      case State::SizeLf:
        if (c != '\n') return fail(i, "bare CR in chunk size line");
        ++i;
        digits_ = 0;
        if (remaining_ == 0) {
          state_ = State::TrailerStart;
          lineBytes_ = 0;
        } else {
          state_ = State::Data;
        }
        break;
      case State::Data: {
        const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n - i));
        i += take;
        remaining_ -= take;
        payload_ += take;
        if (remaining_ == 0) state_ = State::DataCr;
        break;
      }
      case State::DataCr:
        if (c != '\r') return fail(i, "chunk data longer than its size");
        state_ = State::DataLf;
        ++i;
        break;
      case State::DataLf:
        if (c != '\n') return fail(i, "bare CR after chunk data");
        state_ = State::Size;
        ++i;
        break;
      case State::TrailerStart:
        if (c == '\r') {
          state_ = State::FinalLf;
          ++i;
          break;
        }
        if (c == ' ' || c == '\t') return fail(i, "obsolete line folding in trailer");
        state_ = State::Trailer;
        trailerNameDone_ = false;
        trailerNameAny_ = false;
        break;  // re-examine c as the first byte of a trailer field
      case State::Trailer:
        if (++lineBytes_ > kMaxTrailer) return fail(i, "trailer section too large");
        if (!trailerNameDone_) {
          if (c == ':') {
            if (!trailerNameAny_) return fail(i, "invalid trailer field");
            trailerNameDone_ = true;
          } else if (isToken(static_cast<unsigned char>(c))) {
            trailerNameAny_ = true;
          } else {
            return fail(i, "invalid trailer field");
          }
        } else if (c == '\r') {
          state_ = State::TrailerLf;
        } else if (!isFieldByte(static_cast<unsigned char>(c))) {
          return fail(i, "invalid trailer field");
        }
        ++i;
        break;
      case State::TrailerLf:
        if (c != '\n') return fail(i, "bare CR in trailer");
        state_ = State::TrailerStart;
        ++i;
        break;
      case State::FinalLf:
        if (c != '\n') return fail(i, "bare CR at end of chunked body");
        state_ = State::Done;
        return {i + 1, Status::Done};
      case State::Done:
        return {i, Status::Done};
      case State::Error:
        return {i, Status::Error};
    }
  }
  if (state_ == State::Done) return {i, Status::Done};
  if (state_ == State::Error) return {i, Status::Error};
  return {i, Status::Incomplete};
}

}  // namespace ringlb::proxy
