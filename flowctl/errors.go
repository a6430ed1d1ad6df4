package flowctl

import (
	"errors"
	"fmt"
	"math"
)

// ErrFlowControl is matched by errors.Is for every *FlowError.
var ErrFlowControl = errors.New("flowctl: flow control violation")

// ErrControlQueueFull is returned by ControlQueue.Push when the queue holds its maximum.
var ErrControlQueueFull = errors.New("flowctl: control queue full")

// ErrInvalidConfig is wrapped by the errors RecvConfig.Validate returns.
var ErrInvalidConfig = errors.New("flowctl: invalid config")

// Kind says which flow-control rule a *FlowError reports.
type Kind uint8

const (
	// KindCreditExceeded: the peer sent data beyond the credit granted to it.
	KindCreditExceeded Kind = iota + 1
	// KindOutOfOrder: data did not start where the previous data ended.
	KindOutOfOrder
	// KindSendOverrun: the local sender tried to consume more credit than it has
	// (a bug in the caller; sending it would violate the peer's limit).
	KindSendOverrun
)

// String returns a short lower-case name of the kind.
func (k Kind) String() string {
	switch k {
	case KindCreditExceeded:
		return "credit exceeded"
	case KindOutOfOrder:
		return "out of order"
	case KindSendOverrun:
		return "send overrun"
	default:
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
}

// FlowError reports a flow-control violation on one stream. It matches ErrFlowControl.
type FlowError struct {
	// StreamID is the stream the violation happened on (RecvConfig.StreamID or
	// SendWindow.SetStreamID; zero if the caller set none).
	StreamID uint32
	// Kind says which rule was broken.
	Kind Kind
	// Bytes is, for KindCreditExceeded and KindSendOverrun, the stream offset the data
	// reaches (the total bytes sent, saturated at math.MaxUint64); for KindOutOfOrder, the
	// offset the misplaced data started at.
	Bytes uint64
	// Credit is the limit (offset) granted when the violation happened.
	Credit uint64
	// Expected is, for KindOutOfOrder, the offset the data should have started at (the
	// bytes received so far); zero otherwise.
	Expected uint64
}

// Error formats the violation, e.g. "flowctl: stream 7 sent 70000 bytes beyond credit 65536".
func (e *FlowError) Error() string {
	switch e.Kind {
	case KindCreditExceeded:
		return fmt.Sprintf("flowctl: stream %d sent %d bytes beyond credit %d", e.StreamID, e.Bytes, e.Credit)
	case KindSendOverrun:
		return fmt.Sprintf("flowctl: stream %d would send %d bytes beyond credit %d", e.StreamID, e.Bytes, e.Credit)
	case KindOutOfOrder:
		return fmt.Sprintf("flowctl: stream %d data at offset %d out of order, expected offset %d",
			e.StreamID, e.Bytes, e.Expected)
	default:
		return fmt.Sprintf("flowctl: stream %d flow control violation (%s)", e.StreamID, e.Kind)
	}
}

// Is reports whether target is ErrFlowControl.
func (e *FlowError) Is(target error) bool { return target == ErrFlowControl }

// addSat returns a+b, saturated at math.MaxUint64.
func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}
