package stream

import (
	"errors"
	"fmt"

	"github.com/streamd/streamd/stream/internal/wire"
)

// Code is a wire error code (docs/PROTOCOL.md §6). Codes from 0x1000 up are the
// application's own.
type Code = wire.Code

// Error codes from docs/PROTOCOL.md §6.
const (
	CodeNoError            = wire.CodeNoError
	CodeProtocol           = wire.CodeProtocol
	CodeInternal           = wire.CodeInternal
	CodeFlowControl        = wire.CodeFlowControl
	CodeFrameSize          = wire.CodeFrameSize
	CodeStreamLimit        = wire.CodeStreamLimit
	CodeNoRoute            = wire.CodeNoRoute
	CodeCancelled          = wire.CodeCancelled
	CodeRefused            = wire.CodeRefused
	CodeTimeout            = wire.CodeTimeout
	CodeCompression        = wire.CodeCompression
	CodeIntegrity          = wire.CodeIntegrity
	CodeGoingAway          = wire.CodeGoingAway
	CodeUnauthorized       = wire.CodeUnauthorized
	CodeBusy               = wire.CodeBusy
	CodeControlQueueFull   = wire.CodeControlQueueFull
	CodeUnsupportedVersion = wire.CodeUnsupportedVersion
	CodeResumeRejected     = wire.CodeResumeRejected
	CodeMessageTooLarge    = wire.CodeMessageTooLarge
	CodeNotFound           = wire.CodeNotFound
	CodeInvalidArgument    = wire.CodeInvalidArgument
	CodeSlowConsumer       = wire.CodeSlowConsumer
	CodeGap                = wire.CodeGap
	CodeOffsetMismatch     = wire.CodeOffsetMismatch
)

// Sentinel errors. A *StreamError or *ConnError matches the sentinel of its code
// with errors.Is, so callers never compare strings.
var (
	ErrProtocol           = errors.New("stream: protocol error")
	ErrInternal           = errors.New("stream: internal error")
	ErrFlowControl        = errors.New("stream: flow control violation")
	ErrFrameSize          = errors.New("stream: frame size error")
	ErrStreamLimit        = errors.New("stream: too many streams")
	ErrNoRoute            = errors.New("stream: no such route")
	ErrCancelled          = errors.New("stream: cancelled")
	ErrRefused            = errors.New("stream: refused")
	ErrTimeout            = &timeoutError{}
	ErrCompression        = errors.New("stream: compression error")
	ErrIntegrity          = errors.New("stream: integrity check failed")
	ErrGoAway             = errors.New("stream: session going away")
	ErrUnauthorized       = errors.New("stream: unauthorized")
	ErrBusy               = errors.New("stream: peer busy")
	ErrControlQueueFull   = errors.New("stream: too many queued control frames")
	ErrUnsupportedVersion = errors.New("stream: no common protocol version")
	ErrResumeRejected     = errors.New("stream: resume rejected")
	ErrMessageTooLarge    = errors.New("stream: message too large")
	ErrNotFound           = errors.New("stream: not found")
	ErrInvalidArgument    = errors.New("stream: invalid argument")
	ErrSlowConsumer       = errors.New("stream: slow consumer")
	ErrGap                = errors.New("stream: data gap")
	ErrOffsetMismatch     = errors.New("stream: offset mismatch")

	// ErrSessionClosed is returned by calls on a session that has ended normally.
	ErrSessionClosed = errors.New("stream: session closed")
	// ErrWriteClosed is returned by Write after CloseWrite or Close.
	ErrWriteClosed = errors.New("stream: write after close")
	// ErrWrongDirection is returned when the stream's kind does not allow the call,
	// e.g. Write on the receiving side of an upload.
	ErrWrongDirection = errors.New("stream: direction not allowed by stream kind")
)

var codeSentinels = map[Code]error{
	CodeProtocol:           ErrProtocol,
	CodeInternal:           ErrInternal,
	CodeFlowControl:        ErrFlowControl,
	CodeFrameSize:          ErrFrameSize,
	CodeStreamLimit:        ErrStreamLimit,
	CodeNoRoute:            ErrNoRoute,
	CodeCancelled:          ErrCancelled,
	CodeRefused:            ErrRefused,
	CodeTimeout:            ErrTimeout,
	CodeCompression:        ErrCompression,
	CodeIntegrity:          ErrIntegrity,
	CodeGoingAway:          ErrGoAway,
	CodeUnauthorized:       ErrUnauthorized,
	CodeBusy:               ErrBusy,
	CodeControlQueueFull:   ErrControlQueueFull,
	CodeUnsupportedVersion: ErrUnsupportedVersion,
	CodeResumeRejected:     ErrResumeRejected,
	CodeMessageTooLarge:    ErrMessageTooLarge,
	CodeNotFound:           ErrNotFound,
	CodeInvalidArgument:    ErrInvalidArgument,
	CodeSlowConsumer:       ErrSlowConsumer,
	CodeGap:                ErrGap,
	CodeOffsetMismatch:     ErrOffsetMismatch,
}

// codeOf maps an error to the wire code that best describes it: the code of a
// *StreamError/*ConnError/*CodedError, or the code whose sentinel it matches.
func codeOf(err error, fallback Code) Code {
	var se *StreamError
	if errors.As(err, &se) {
		return se.Code
	}
	var ce *ConnError
	if errors.As(err, &ce) {
		return ce.Code
	}
	var ae *CodedError
	if errors.As(err, &ae) {
		return ae.Code
	}
	for code, sentinel := range codeSentinels {
		if errors.Is(err, sentinel) {
			return code
		}
	}
	return fallback
}

// StreamError ends one stream; the session goes on.
type StreamError struct {
	StreamID uint32
	Code     Code
	Reason   string
	// Remote is true when the peer reported the error.
	Remote bool
}

func (e *StreamError) Error() string {
	side := "local"
	if e.Remote {
		side = "remote"
	}
	if e.Reason == "" {
		return fmt.Sprintf("stream %d: %s (%s)", e.StreamID, e.Code, side)
	}
	return fmt.Sprintf("stream %d: %s (%s): %s", e.StreamID, e.Code, side, e.Reason)
}

// Is reports whether target is the sentinel of e's code.
func (e *StreamError) Is(target error) bool { return codeSentinels[e.Code] == target }

// ConnError ends the whole session.
type ConnError struct {
	Code   Code
	Reason string
	Remote bool
	// Err is the underlying cause (a transport error), if any.
	Err error
}

func (e *ConnError) Error() string {
	side := "local"
	if e.Remote {
		side = "remote"
	}
	msg := fmt.Sprintf("session: %s (%s)", e.Code, side)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is the sentinel of e's code; every ConnError also
// matches ErrSessionClosed.
func (e *ConnError) Is(target error) bool {
	return target == ErrSessionClosed || codeSentinels[e.Code] == target
}

// Unwrap returns the underlying transport error.
func (e *ConnError) Unwrap() error { return e.Err }

// Timeout reports whether the session ended on a timeout (net.Error).
func (e *ConnError) Timeout() bool { return e.Code == CodeTimeout }

// Temporary is part of net.Error; session errors are never temporary.
func (e *ConnError) Temporary() bool { return false }

// CodedError lets a handler choose the code its error is reported with, e.g.
// &stream.CodedError{Code: stream.CodeNotFound, Err: err}.
type CodedError struct {
	Code Code
	Err  error
}

func (e *CodedError) Error() string { return fmt.Sprintf("%s: %v", e.Code, e.Err) }

// Unwrap returns the wrapped error.
func (e *CodedError) Unwrap() error { return e.Err }

// WithCode wraps err so that it is reported to the peer with code.
func WithCode(code Code, err error) error { return &CodedError{Code: code, Err: err} }

type timeoutError struct{}

func (*timeoutError) Error() string   { return "stream: timeout" }
func (*timeoutError) Timeout() bool   { return true }
func (*timeoutError) Temporary() bool { return true }
