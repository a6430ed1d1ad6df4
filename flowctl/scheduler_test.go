package flowctl_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/flowctl"
)

func TestSchedulerRoundRobinFairness(t *testing.T) {
	var s flowctl.SendScheduler
	ids := []uint32{40, 3, 17, 1, 99, 8, 1000, 5}
	for _, id := range ids {
		s.Push(id, 10)
	}
	counts := map[uint32]int{}
	var order []uint32
	for range 1000 {
		id, ok := s.Pop()
		require.True(t, ok)
		counts[id]++
		if len(order) < 2*len(ids) {
			order = append(order, id)
		}
		s.Push(id, 10) // still has data and credit
	}
	for _, id := range ids {
		require.InDelta(t, 1000/len(ids), counts[id], 1, "stream %d", id)
	}
	require.Equal(t, append(slices.Clone(ids), ids...), order, "strict rotation in push order")
	require.Equal(t, len(ids), s.Len())
}

func TestSchedulerStrictPriority(t *testing.T) {
	var s flowctl.SendScheduler
	s.Push(1, 0)
	s.Push(2, 0)
	s.Push(3, 200)
	s.Push(4, 200)
	s.Push(5, 64)
	for range 100 {
		id, ok := s.Pop()
		require.True(t, ok)
		require.Contains(t, []uint32{3, 4}, id, "a busy higher level starves lower ones")
		s.Push(id, 200)
	}
	s.Remove(3)
	s.Remove(4)
	got := drain(&s)
	require.Equal(t, []uint32{5, 1, 2}, got)
}

func TestSchedulerRemoveAndIdempotentPush(t *testing.T) {
	var s flowctl.SendScheduler
	_, ok := s.Pop()
	require.False(t, ok, "zero value is an empty queue")
	s.Remove(42) // not queued: nothing happens

	for id := uint32(1); id <= 5; id++ {
		s.Push(id, 7)
	}
	s.Push(1, 7) // already queued: keeps its place, no duplicate
	require.Equal(t, 5, s.Len())
	s.Remove(1) // head
	s.Remove(3) // middle
	s.Remove(5) // tail
	require.False(t, s.Queued(3))
	require.True(t, s.Queued(2))
	require.Equal(t, []uint32{2, 4}, drain(&s))

	s.Push(9, 1)
	s.Push(8, 1)
	s.Push(9, 5) // priority change: moves to the new level
	require.Equal(t, []uint32{9, 8}, drain(&s))
	require.Zero(t, s.Len())
}

func drain(s *flowctl.SendScheduler) []uint32 {
	var out []uint32
	for {
		id, ok := s.Pop()
		if !ok {
			return out
		}
		out = append(out, id)
	}
}

// refScheduler is the obvious slice-based model SendScheduler must agree with.
type refScheduler struct {
	q []struct {
		id   uint32
		prio uint8
	}
}

func (r *refScheduler) push(id uint32, prio uint8) {
	for i, e := range r.q {
		if e.id == id {
			if e.prio == prio {
				return
			}
			r.q = slices.Delete(r.q, i, i+1)
			break
		}
	}
	r.q = append(r.q, struct {
		id   uint32
		prio uint8
	}{id, prio})
}

func (r *refScheduler) pop() (uint32, bool) {
	best := -1
	for i, e := range r.q {
		if best < 0 || e.prio > r.q[best].prio {
			best = i
		}
	}
	if best < 0 {
		return 0, false
	}
	id := r.q[best].id
	r.q = slices.Delete(r.q, best, best+1)
	return id, true
}

func (r *refScheduler) remove(id uint32) {
	r.q = slices.DeleteFunc(r.q, func(e struct {
		id   uint32
		prio uint8
	}) bool {
		return e.id == id
	})
}

func checkSchedulerAgainstModel(t *testing.T, ops []byte) {
	var s flowctl.SendScheduler
	var ref refScheduler
	for i := 0; i+2 < len(ops); i += 3 {
		id := uint32(ops[i+1] % 16)
		prio := []uint8{0, 1, 128, 255}[ops[i+2]%4]
		switch ops[i] % 3 {
		case 0:
			s.Push(id, prio)
			ref.push(id, prio)
		case 1:
			got, ok := s.Pop()
			want, wantOK := ref.pop()
			require.Equal(t, wantOK, ok)
			require.Equal(t, want, got)
		case 2:
			s.Remove(id)
			ref.remove(id)
		}
		require.Equal(t, len(ref.q), s.Len())
	}
}

func TestSchedulerMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		ops := make([]byte, 600)
		for i := range ops {
			ops[i] = byte(rng.UintN(256))
		}
		checkSchedulerAgainstModel(t, ops)
	}
}

func FuzzSchedulerMatchesModel(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0, 2, 2, 1, 0, 0, 2, 1, 0, 1, 0, 0})
	f.Fuzz(checkSchedulerAgainstModel)
}
