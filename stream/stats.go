package stream

// ServerStats is a snapshot of a server: live sessions and streams, and
// counters summed over every session it has served (live and ended).
type ServerStats struct {
	// Sessions is the number of live sessions; SessionsTotal counts all
	// sessions that completed a handshake.
	Sessions      int
	SessionsTotal int64
	// Streams counts live streams by kind and state.
	Streams map[Kind]map[State]int
	// ReceiveWindowBytes sums the current receive windows of live streams.
	ReceiveWindowBytes int64
	// QueuedControl is the number of control frames waiting in writers.
	QueuedControl int
	// Totals over all sessions.
	Totals Stats
}

// Stats returns the server's counters. It walks the live sessions, so it is
// meant for scrapes (once a second or so), not for hot paths.
func (srv *Server) Stats() ServerStats {
	out := ServerStats{Streams: make(map[Kind]map[State]int)}
	srv.mu.Lock()
	out.SessionsTotal = srv.sessionsTotal
	out.Totals = srv.ended
	srv.mu.Unlock()
	for _, s := range srv.snapshot() {
		out.Sessions++
		addStats(&out.Totals, s.Stats())
		s.wmu.Lock()
		out.QueuedControl += s.control.Len()
		s.wmu.Unlock()
		s.mu.Lock()
		streams := make([]*Stream, 0, len(s.streams))
		for _, st := range s.streams {
			streams = append(streams, st)
		}
		s.mu.Unlock()
		for _, st := range streams {
			st.mu.Lock()
			state := st.state
			if st.recvWin != nil && !state.Terminal() {
				out.ReceiveWindowBytes += int64(st.recvWin.Size())
			}
			st.mu.Unlock()
			byState := out.Streams[st.kind]
			if byState == nil {
				byState = make(map[State]int)
				out.Streams[st.kind] = byState
			}
			byState[state]++
		}
	}
	return out
}

// addStats adds the counters of b to a (Streams and RTT are not summed).
func addStats(a *Stats, b Stats) {
	a.BytesIn += b.BytesIn
	a.BytesOut += b.BytesOut
	a.MessagesIn += b.MessagesIn
	a.MessagesOut += b.MessagesOut
	a.DataIn += b.DataIn
	a.DataOut += b.DataOut
	a.RawOut += b.RawOut
	a.CompressedOut += b.CompressedOut
	a.CreditStalls += b.CreditStalls
	a.StreamsOpened += b.StreamsOpened
	a.Resent += b.Resent
	a.Resumes += b.Resumes
	a.Disconnects += b.Disconnects
}
