#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ringlb {

/// What kind of failure an Error is. Callers decide by the kind (retry a Conflict,
/// back off on Unavailable), never by matching the message's text.
enum class ErrorKind {
  Invalid,      // the input is wrong (a field, a file, a value); retrying will not help
  NotFound,     // the thing named does not exist
  Conflict,     // a concurrent writer won (HTTP 409); re-read and try again
  Unavailable,  // a dependency could not be reached or refused the request
  Transient,    // a timeout or a short-lived failure; worth retrying with backoff
  Internal,     // a broken invariant or an unexpected failure of our own
};

/// The stable lower-case name of a kind, for logs and metric labels.
constexpr std::string_view errorKindName(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::Invalid: return "invalid";
    case ErrorKind::NotFound: return "not_found";
    case ErrorKind::Conflict: return "conflict";
    case ErrorKind::Unavailable: return "unavailable";
    case ErrorKind::Transient: return "transient";
    case ErrorKind::Internal: return "internal";
  }
  return "internal";
}

/// A failure: a message that names what was wrong (a field, a file, a value) and its kind.
/// `Error{"..."}` is an Invalid error, the common case of parsing and validation.
struct Error {
  std::string message;
  ErrorKind kind = ErrorKind::Invalid;

  static Error invalid(std::string message) { return {std::move(message), ErrorKind::Invalid}; }
  static Error notFound(std::string message) { return {std::move(message), ErrorKind::NotFound}; }
  static Error conflict(std::string message) { return {std::move(message), ErrorKind::Conflict}; }
  static Error unavailable(std::string message) { return {std::move(message), ErrorKind::Unavailable}; }
  static Error transient(std::string message) { return {std::move(message), ErrorKind::Transient}; }
  static Error internal(std::string message) { return {std::move(message), ErrorKind::Internal}; }

  /// The same failure with `context` (what was being done: "apply Pod default/apod-0")
  /// in front of its message; the kind is kept, so it still decides at the top.
  Error withContext(std::string_view context) const { return {std::string(context) + ": " + message, kind}; }
};

/// A value or an Error: the single error channel for APIs that must not throw
/// (ring updates, resource reloads, runtime and API-server calls).
template <class T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const noexcept { return std::holds_alternative<T>(state_); }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  /// The failure's message; only valid when !ok().
  const std::string& error() const { return std::get<Error>(state_).message; }
  /// The failure's kind; only valid when !ok().
  ErrorKind errorKind() const { return std::get<Error>(state_).kind; }
  /// The whole failure, to pass on unchanged; only valid when !ok().
  const Error& failure() const& { return std::get<Error>(state_); }
  Error&& failure() && { return std::get<Error>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

/// Result of an operation that returns nothing but may fail.
struct Done {};
using Status = Result<Done>;
inline Status ok() { return Done{}; }

}  // namespace ringlb
