package transport

// LaneConn is a Conn that can also carry messages on independent ordered lanes: on
// WebTransport, one QUIC stream per lane, so that a packet lost on one lane stalls only that
// lane and not every message behind it, as it would on one TCP connection or one QUIC stream.
//
// Lanes are off until StartLanes; both peers must agree on using them (the session layer
// negotiates it in its handshake) and call StartLanes before their next ReadMessage. From
// then on ReadMessage returns the messages of every lane as they arrive, the main lane's
// (WriteMessage) included: messages of one lane stay in order, messages of different lanes
// may overtake each other.
//
// Concurrency: as for Conn, plus: WriteLane and EndLane may be called from any goroutine
// (they serialize per lane). WriteLane does not wait for the network: it copies the message
// into the lane's queue, which the lane's own writer drains, so a stalled lane never blocks
// the caller or other lanes. The caller bounds how much it queues (the session's per-stream
// credit does); a lane's queue is not otherwise capped.
type LaneConn interface {
	Conn
	// StartLanes switches the Conn to lanes. It is idempotent.
	StartLanes() error
	// WriteLane queues parts, concatenated, as one message on lane id (ids are the
	// caller's; 0 is not a lane: use WriteMessage). It fails once the Conn is shut down,
	// with the error WriteMessage would return.
	WriteLane(id uint32, parts ...[]byte) error
	// EndLane says that lane id carries no more messages for now: once its queue is
	// written, its QUIC stream ends (FIN) and its resources go. A later WriteLane with the
	// same id opens a new lane, not ordered with the old one.
	EndLane(id uint32)
}

// Lanes returns c as a LaneConn when it can carry lanes, else nil.
func Lanes(c Conn) LaneConn {
	if lc, ok := c.(LaneConn); ok {
		return lc
	}
	return nil
}
