package flowctl_test

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/streamd/streamd/flowctl"
)

// propStream pairs a receiver's window with its peer's send window; CREDIT frames travel
// between them through inFlight and are delivered in any order, possibly duplicated.
type propStream struct {
	w        *flowctl.RecvWindow
	send     flowctl.SendWindow
	inFlight []uint64
	initial  uint64
	limit    uint64 // last seen, to check monotonicity
	size     uint64
}

const (
	propCap = 256 * kib
	propMin = 64 * kib
	propMax = 1 * mib
	// propFrame is over half of Min, so a window of Min needs the "less than one frame
	// left" grant rule to let a full frame through.
	propFrame = 48 * kib
)

// checkRecvInvariants runs ops (3 bytes each: operation, stream, argument) against three
// windows sharing one budget, one clock and one RTT estimate, and after every operation
// checks: received ≤ limit, buffered = received − consumed, outstanding = limit − consumed,
// budget in use = Σ outstanding ≤ cap + Σ initial windows, limits and sizes never go down,
// Initial ≤ size ≤ Max, a peer that respects its SendWindow never gets an error, and a peer
// that does not gets the right *FlowError and changes nothing. At the end every open stream
// can send at least one full frame once its credits arrive (no deadlock at the cap).
func checkRecvInvariants(t *testing.T, ops []byte) {
	budget := flowctl.NewBudget(propCap)
	clk := flowctl.NewFakeClock(time.Unix(1_700_000_000, 0))
	rtt := &flowctl.RTTStats{}
	streams := make([]*propStream, 3)
	for i := range streams {
		initial := uint64(64*kib) << i
		cfg := flowctl.RecvConfig{
			StreamID: uint32(i + 1), Initial: initial, Min: propMin, Max: propMax, MaxFrame: propFrame,
			FixedWindow: i == 0, Clock: clk, RTT: rtt, Budget: budget,
		}
		streams[i] = &propStream{w: flowctl.NewRecvWindow(cfg), send: flowctl.NewSendWindow(initial),
			initial: initial, limit: initial, size: initial}
	}
	for i := 0; i+2 < len(ops); i += 3 {
		s := streams[int(ops[i+1])%len(streams)]
		arg := uint64(ops[i+2])
		w := s.w
		switch ops[i] % 8 {
		case 0: // the peer sends what its credit allows
			n := min(arg*kib, s.send.Available())
			off := s.send.Sent()
			if err := s.send.Consume(n); err != nil {
				t.Fatalf("peer send: %v", err)
			}
			if err := w.OnData(off, n); err != nil {
				t.Fatalf("in-credit data rejected: %v", err)
			}
		case 1: // the peer misbehaves
			before := *w
			var err error
			var wantKind flowctl.Kind
			if arg%2 == 0 {
				err, wantKind = w.OnData(w.Received(), w.Limit()-w.Received()+1+arg), flowctl.KindCreditExceeded
			} else {
				err, wantKind = w.OnData(w.Received()+arg, 1), flowctl.KindOutOfOrder
			}
			var fe *flowctl.FlowError
			if !errors.As(err, &fe) || fe.Kind != wantKind || fe.StreamID != w.StreamID() || fe.Credit != w.Limit() {
				t.Fatalf("bad data: got %v, want kind %v", err, wantKind)
			}
			if *w != before {
				t.Fatalf("rejected data changed the window")
			}
		case 2: // the application reads
			w.OnConsume(min(arg*kib, w.Buffered()))
		case 3: // the session asks for a grant
			prev := w.Limit()
			if limit, ok := w.PendingGrant(); ok {
				if limit <= prev || limit != w.Limit() {
					t.Fatalf("grant %d after limit %d", limit, prev)
				}
				s.inFlight = append(s.inFlight, limit)
			}
		case 4: // a CREDIT frame arrives (any order; sometimes duplicated)
			if len(s.inFlight) > 0 {
				j := int(arg) % len(s.inFlight)
				s.send.Update(s.inFlight[j])
				if arg%5 != 0 {
					s.inFlight = append(s.inFlight[:j], s.inFlight[j+1:]...)
				}
			}
		case 5:
			clk.Advance(time.Duration(arg) * 100 * time.Microsecond)
		case 6:
			rtt.AddSample(time.Duration(arg+1) * time.Millisecond)
		case 7:
			if arg < 8 {
				w.Release()
			}
		}
		checkWindows(t, streams, budget)
	}
	for _, s := range streams { // liveness: drain everything, then every open stream can send a full frame
		s.w.OnConsume(s.w.Buffered())
		if limit, ok := s.w.PendingGrant(); ok {
			s.inFlight = append(s.inFlight, limit)
		}
		for _, l := range s.inFlight {
			s.send.Update(l)
		}
		if !s.w.Released() && s.send.Available() < propFrame {
			t.Fatalf("stream %d stuck: available %d", s.w.StreamID(), s.send.Available())
		}
	}
	checkWindows(t, streams, budget)
}

func checkWindows(t *testing.T, streams []*propStream, budget *flowctl.Budget) {
	var held, bound uint64 = 0, propCap
	for _, s := range streams {
		w := s.w
		switch {
		case w.Received() > w.Limit():
			t.Fatalf("stream %d: received %d > limit %d", w.StreamID(), w.Received(), w.Limit())
		case w.Consumed() > w.Received() || w.Buffered() != w.Received()-w.Consumed():
			t.Fatalf("stream %d: buffered %d, received %d, consumed %d", w.StreamID(), w.Buffered(), w.Received(), w.Consumed())
		case !w.Released() && w.Outstanding() != w.Limit()-w.Consumed():
			t.Fatalf("stream %d: outstanding %d != limit %d - consumed %d", w.StreamID(), w.Outstanding(), w.Limit(), w.Consumed())
		case w.Released() && (w.Outstanding() != 0 || w.Buffered() != 0):
			t.Fatalf("stream %d: released but holds %d, buffers %d", w.StreamID(), w.Outstanding(), w.Buffered())
		case w.Limit() < s.limit:
			t.Fatalf("stream %d: limit %d→%d went down (credit revoked)", w.StreamID(), s.limit, w.Limit())
		case w.Size() < s.initial || w.Size() > max(s.initial, min(propMax, propCap)):
			t.Fatalf("stream %d: size %d out of range", w.StreamID(), w.Size())
		case s.send.Limit() > w.Limit() || s.send.Sent() != w.Received():
			t.Fatalf("stream %d: peer limit %d sent %d, window limit %d received %d",
				w.StreamID(), s.send.Limit(), s.send.Sent(), w.Limit(), w.Received())
		}
		s.limit, s.size = w.Limit(), w.Size()
		held += w.Outstanding()
		bound += s.initial
	}
	if budget.InUse() != held || held > bound {
		t.Fatalf("budget in use %d, windows hold %d, bound %d", budget.InUse(), held, bound)
	}
}

func TestRecvWindowInvariantsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for range 300 {
		ops := make([]byte, 3*400)
		for i := range ops {
			ops[i] = byte(rng.UintN(256))
		}
		checkRecvInvariants(t, ops)
	}
}

func FuzzRecvWindowInvariants(f *testing.F) {
	f.Add([]byte{0, 0, 255, 2, 0, 200, 3, 0, 0, 4, 0, 0, 0, 0, 255})
	f.Add([]byte{6, 0, 10, 0, 2, 255, 2, 2, 255, 3, 2, 0, 4, 2, 1, 1, 1, 3, 7, 1, 0})
	f.Fuzz(checkRecvInvariants)
}
