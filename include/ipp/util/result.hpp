#pragma once
// Result<T>: the value-or-error type for expected failures at steady state (bad signature, bad
// JSON, unknown engine, ...). Exceptions are kept for start-up and configuration problems.
#include <string>
#include <utility>
#include <variant>

namespace ipp {

enum class ErrorCode {
  InvalidArgument,  // malformed input from a user or a peer
  Protocol,         // a message that breaks the wire protocol
  Auth,             // signature missing, wrong or replayed
  NotFound,         // unknown engine, message id, record
  Timeout,
  Io,
  Python,
  Remote,
  Internal,
};

const char* to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
};

template <typename T, typename E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT(google-explicit-constructor)
  Result(E error) : v_(std::move(error)) {}          // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const E& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

struct Ok {};
using Status = Result<Ok>;

inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message)};
}

}  // namespace ipp
