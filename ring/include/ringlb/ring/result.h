#pragma once

#include <string>
#include <utility>
#include <variant>

namespace ringlb {

/// An error message that names what was wrong (a field, a file, a value).
struct Error {
  std::string message;
};

/// A value or an Error: the single error channel for parsing and validation APIs
/// that must not throw (ring updates, resource reloads).
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

  const std::string& error() const { return std::get<Error>(state_).message; }

 private:
  std::variant<T, Error> state_;
};

/// Result of an operation that returns nothing but may fail.
struct Done {};
using Status = Result<Done>;
inline Status ok() { return Done{}; }

}  // namespace ringlb
