#pragma once
// Every protocol string, spelled once, exactly as ipyparallel and jupyter_client spell it.
#include <string_view>

namespace ipp::wire {

inline constexpr std::string_view kDelimiter = "<IDS|MSG>";
inline constexpr std::string_view kProtocolVersion = "5.3";
inline constexpr std::string_view kDefaultScheme = "hmac-sha256";

namespace msg {
// registration / query channel
inline constexpr std::string_view kConnectionRequest = "connection_request";
inline constexpr std::string_view kConnectionReply = "connection_reply";
inline constexpr std::string_view kRegistrationRequest = "registration_request";
inline constexpr std::string_view kRegistrationReply = "registration_reply";
inline constexpr std::string_view kUnregistrationRequest = "unregistration_request";
inline constexpr std::string_view kQueueRequest = "queue_request";
inline constexpr std::string_view kQueueReply = "queue_reply";
inline constexpr std::string_view kResultRequest = "result_request";
inline constexpr std::string_view kResultReply = "result_reply";
inline constexpr std::string_view kHistoryRequest = "history_request";
inline constexpr std::string_view kHistoryReply = "history_reply";
inline constexpr std::string_view kDbRequest = "db_request";
inline constexpr std::string_view kDbReply = "db_reply";
inline constexpr std::string_view kPurgeRequest = "purge_request";
inline constexpr std::string_view kPurgeReply = "purge_reply";
inline constexpr std::string_view kResubmitRequest = "resubmit_request";
inline constexpr std::string_view kResubmitReply = "resubmit_reply";
inline constexpr std::string_view kShutdownRequest = "shutdown_request";
inline constexpr std::string_view kShutdownReply = "shutdown_reply";
inline constexpr std::string_view kLoadRequest = "load_request";
inline constexpr std::string_view kHubError = "hub_error";
// notifications
inline constexpr std::string_view kRegistrationNotification = "registration_notification";
inline constexpr std::string_view kUnregistrationNotification = "unregistration_notification";
inline constexpr std::string_view kShutdownNotification = "shutdown_notification";
// shell
inline constexpr std::string_view kApplyRequest = "apply_request";
inline constexpr std::string_view kApplyReply = "apply_reply";
inline constexpr std::string_view kExecuteRequest = "execute_request";
inline constexpr std::string_view kExecuteReply = "execute_reply";
inline constexpr std::string_view kKernelInfoRequest = "kernel_info_request";
inline constexpr std::string_view kKernelInfoReply = "kernel_info_reply";
// control
inline constexpr std::string_view kAbortRequest = "abort_request";
inline constexpr std::string_view kAbortReply = "abort_reply";
inline constexpr std::string_view kClearRequest = "clear_request";
inline constexpr std::string_view kClearReply = "clear_reply";
inline constexpr std::string_view kSignalRequest = "signal_request";
inline constexpr std::string_view kSignalReplyQuirk = "_request";  // the nanny's reply type, sic
// iopub
inline constexpr std::string_view kStatus = "status";
inline constexpr std::string_view kStream = "stream";
inline constexpr std::string_view kExecuteInput = "execute_input";
inline constexpr std::string_view kExecuteResult = "execute_result";
inline constexpr std::string_view kDisplayData = "display_data";
inline constexpr std::string_view kError = "error";
inline constexpr std::string_view kDataMessage = "data_message";
// internal (monitor)
inline constexpr std::string_view kTaskDestination = "task_destination";
}  // namespace msg

}  // namespace ipp::wire
