#include <ipp/util/result.hpp>

namespace ipp {

const char* to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "InvalidArgument";
    case ErrorCode::Protocol: return "Protocol";
    case ErrorCode::Auth: return "Auth";
    case ErrorCode::NotFound: return "NotFound";
    case ErrorCode::Timeout: return "Timeout";
    case ErrorCode::Io: return "Io";
    case ErrorCode::Python: return "Python";
    case ErrorCode::Remote: return "Remote";
    case ErrorCode::Internal: return "Internal";
  }
  return "Unknown";
}

}  // namespace ipp
