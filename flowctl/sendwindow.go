package flowctl

// SendWindow is a sender's credit for one stream: the peer's latest limit (an absolute
// offset) and the bytes sent so far. The zero value has no credit. Not synchronized.
type SendWindow struct {
	sent  uint64
	limit uint64
	id    uint32
}

// NewSendWindow returns a window allowing initialLimit bytes (the initial window the peer
// announced in the handshake).
func NewSendWindow(initialLimit uint64) SendWindow {
	return SendWindow{limit: initialLimit}
}

// SetStreamID sets the stream ID that errors from Consume carry.
func (w *SendWindow) SetStreamID(id uint32) { w.id = id }

// Available returns the bytes that may still be sent: Limit - Sent.
func (w *SendWindow) Available() uint64 { return w.limit - w.sent }

// Sent returns the bytes consumed so far (the stream offset of the next byte to send).
func (w *SendWindow) Sent() uint64 { return w.sent }

// Limit returns the highest offset the peer has allowed.
func (w *SendWindow) Limit() uint64 { return w.limit }

// Consume records n bytes as sent. If n exceeds Available it changes nothing and returns a
// *FlowError of KindSendOverrun: sending them would violate the peer's limit.
func (w *SendWindow) Consume(n uint64) error {
	if n > w.limit-w.sent {
		return &FlowError{StreamID: w.id, Kind: KindSendOverrun, Bytes: addSat(w.sent, n), Credit: w.limit}
	}
	w.sent += n
	return nil
}

// Update raises the limit to limit (from a CREDIT frame). Lower or equal values are ignored,
// so duplicated or reordered CREDIT frames are harmless. It reports whether Available grew.
func (w *SendWindow) Update(limit uint64) bool {
	if limit <= w.limit {
		return false
	}
	w.limit = limit
	return true
}
