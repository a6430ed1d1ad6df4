package wire

import "strconv"

// Code is an error code carried by CANCEL, ERROR, GOAWAY and REPLY
// (docs/PROTOCOL.md §6). Codes from CodeApplicationMin up belong to the
// application; receivers treat unknown codes as application errors.
type Code uint32

// Error codes of protocol version 1.
const (
	CodeNoError            Code = 0
	CodeProtocol           Code = 1
	CodeInternal           Code = 2
	CodeFlowControl        Code = 3
	CodeFrameSize          Code = 4
	CodeStreamLimit        Code = 5
	CodeNoRoute            Code = 6
	CodeCancelled          Code = 7
	CodeRefused            Code = 8
	CodeTimeout            Code = 9
	CodeCompression        Code = 10
	CodeIntegrity          Code = 11
	CodeGoingAway          Code = 12
	CodeUnauthorized       Code = 13
	CodeBusy               Code = 14
	CodeControlQueueFull   Code = 15
	CodeUnsupportedVersion Code = 16
	CodeResumeRejected     Code = 17
	CodeMessageTooLarge    Code = 18
	CodeNotFound           Code = 19
	CodeInvalidArgument    Code = 20
	CodeSlowConsumer       Code = 21
	CodeGap                Code = 22
	CodeOffsetMismatch     Code = 23

	// CodeApplicationMin is the first application-defined code.
	CodeApplicationMin Code = 0x1000
)

var codeNames = [...]string{
	CodeNoError:            "NO_ERROR",
	CodeProtocol:           "PROTOCOL_ERROR",
	CodeInternal:           "INTERNAL_ERROR",
	CodeFlowControl:        "FLOW_CONTROL_ERROR",
	CodeFrameSize:          "FRAME_SIZE_ERROR",
	CodeStreamLimit:        "STREAM_LIMIT",
	CodeNoRoute:            "NO_ROUTE",
	CodeCancelled:          "CANCELLED",
	CodeRefused:            "REFUSED",
	CodeTimeout:            "TIMEOUT",
	CodeCompression:        "COMPRESSION_ERROR",
	CodeIntegrity:          "INTEGRITY_ERROR",
	CodeGoingAway:          "GOING_AWAY",
	CodeUnauthorized:       "UNAUTHORIZED",
	CodeBusy:               "BUSY",
	CodeControlQueueFull:   "CONTROL_QUEUE_FULL",
	CodeUnsupportedVersion: "UNSUPPORTED_VERSION",
	CodeResumeRejected:     "RESUME_REJECTED",
	CodeMessageTooLarge:    "MESSAGE_TOO_LARGE",
	CodeNotFound:           "NOT_FOUND",
	CodeInvalidArgument:    "INVALID_ARGUMENT",
	CodeSlowConsumer:       "SLOW_CONSUMER",
	CodeGap:                "GAP",
	CodeOffsetMismatch:     "OFFSET_MISMATCH",
}

// IsApplication reports whether c is in the application range (≥ 0x1000).
func (c Code) IsApplication() bool { return c >= CodeApplicationMin }

// String returns the spec name ("FLOW_CONTROL_ERROR"); "APPLICATION_0x1234"
// for application codes; "CODE_99" for unassigned protocol codes.
func (c Code) String() string {
	if int64(c) < int64(len(codeNames)) {
		return codeNames[c]
	}
	if c.IsApplication() {
		return "APPLICATION_0x" + strconv.FormatUint(uint64(c), 16)
	}
	return "CODE_" + strconv.FormatUint(uint64(c), 10)
}
