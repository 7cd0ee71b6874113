// Status: the result of every engine and backend call. Nothing in the engine exits or aborts;
// failures travel up as a code plus a message and become an InferenceError on the JS side.
#pragma once

#include <string>
#include <utility>

namespace inferkit {

// Codes map one to one onto InferenceError kinds (see kind_name()), so the addon never has to
// guess how to classify a failure.
enum class StatusCode {
  kOk = 0,
  kBadRequest,              // invalid argument, malformed model file, unsupported config
  kNotFound,                // model directory or a referenced file does not exist
  kContextLengthExceeded,   // prompt (+ max tokens) does not fit max_seq_len
  kBackpressure,            // all slots busy and the wait queue is full
  kCancelled,               // the request was cancelled
  kPoisoned,                // sticky backend failure: only rebuild() recovers
  kInternal,                // anything else (allocation failure, invariant broken)
};

// The InferenceError kind string for a code ("bad_request", "cuda_context_poisoned", ...).
inline const char* kind_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kBadRequest: return "bad_request";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kContextLengthExceeded: return "context_length_exceeded";
    case StatusCode::kBackpressure: return "backpressure";
    case StatusCode::kCancelled: return "cancelled";
    case StatusCode::kPoisoned: return "cuda_context_poisoned";
    case StatusCode::kInternal: return "internal";
  }
  return "internal";
}

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status BadRequest(std::string m) { return Status(StatusCode::kBadRequest, std::move(m)); }
  static Status NotFound(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
  static Status ContextLength(std::string m) {
    return Status(StatusCode::kContextLengthExceeded, std::move(m));
  }
  static Status Cancelled(std::string m) { return Status(StatusCode::kCancelled, std::move(m)); }
  static Status Poisoned(std::string m) { return Status(StatusCode::kPoisoned, std::move(m)); }
  static Status Internal(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const char* kind() const { return kind_name(code_); }

  // "kind: message", for logs and test failure output.
  std::string to_string() const { return ok() ? "ok" : std::string(kind()) + ": " + message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Early return on failure: IK_RETURN_IF_ERROR(parse(x));
#define IK_RETURN_IF_ERROR(expr)                   \
  do {                                             \
    ::inferkit::Status ik_status_ = (expr);        \
    if (!ik_status_.ok()) return ik_status_;       \
  } while (0)

}  // namespace inferkit
