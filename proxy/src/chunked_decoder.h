#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ringlb::proxy {

/// Validates a chunked body (RFC 9112 §7.1) as it streams past, without
/// copying it: the proxy forwards the chunked bytes unchanged once they are
/// known to be well formed. Strict: chunk sizes are 1–16 hex digits with
/// nothing but an optional extension after them, every line ends in CRLF,
/// trailer fields follow header syntax.
class ChunkedDecoder {
 public:
  enum class Status : std::uint8_t { Incomplete, Done, Error };

  struct Step {
    std::size_t consumed = 0;  // bytes of this message in the input (stops at the message end)
    Status status = Status::Incomplete;
  };

  /// Consumes as much of `input` as belongs to the message. On Done,
  /// `consumed` ends right after the final CRLF; any later bytes belong to the
  /// next message. On Error, `error()` says what was wrong.
  Step feed(std::string_view input) noexcept;
  /// Like feed(), and moves the chunk data of `input` to its front (for a
  /// recipient that cannot take chunked, such as an HTTP/1.0 client): sets
  /// `payload` to how many bytes of it are chunk data.
  Step decodeInPlace(std::span<char> input, std::size_t& payload) noexcept;
  /// Like decodeInPlace(), and appends the trailer section's field lines
  /// (each "name: value\r\n", as validated) to `trailers` (an HTTP/2
  /// recipient sends them as a HEADERS frame).
  Step decodeInPlace(std::span<char> input, std::size_t& payload, std::string& trailers);

  /// Payload bytes seen so far (chunk data only), for body limits.
  std::uint64_t payloadBytes() const noexcept { return payload_; }
  std::string_view error() const noexcept { return error_; }
  bool done() const noexcept { return state_ == State::Done; }
  void reset() noexcept { *this = ChunkedDecoder{}; }

 private:
  enum class State : std::uint8_t {
    Size,        // hex digits of a chunk size
    SizeWs,      // whitespace after the digits; only ';' may follow
    Extension,   // chunk extension bytes up to CR
    SizeLf,      // LF after the size line's CR
    Data,        // chunk payload
    DataCr,      // CR after the payload
    DataLf,      // LF after the payload
    TrailerStart,
    Trailer,     // a trailer field line
    TrailerLf,   // LF after a trailer field line
    FinalLf,     // LF of the blank line ending the message
    Done,
    Error,
  };

  Step fail(std::size_t consumed, std::string_view why) noexcept;
  /// Both decodeInPlace(): the trailer section goes to `trailers` unless it is null.
  Step decode(std::span<char> input, std::size_t& payload, std::string* trailers);

  static constexpr std::size_t kMaxExtension = 1024;
  static constexpr std::size_t kMaxTrailer = 8192;

  State state_ = State::Size;
  std::uint64_t remaining_ = 0;
  std::uint64_t payload_ = 0;
  std::uint32_t digits_ = 0;
  std::uint32_t lineBytes_ = 0;  // extension or trailer bytes so far
  bool trailerNameDone_ = false;
  bool trailerNameAny_ = false;
  std::string_view error_;
};

}  // namespace ringlb::proxy
