package flowctl_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/streamd/streamd/flowctl"
)

func BenchmarkSendWindowConsumeUpdate(b *testing.B) {
	b.ReportAllocs()
	w := flowctl.NewSendWindow(256 * kib)
	for b.Loop() {
		if w.Available() < 16*kib {
			w.Update(w.Sent() + 256*kib)
		}
		if err := w.Consume(16 * kib); err != nil {
			b.Fatal(err)
		}
	}
}

// benchRecvCycle is the receive path of one data frame: arrival, the application reading it,
// and the session asking for a grant.
func benchRecvCycle(b *testing.B, cfg flowctl.RecvConfig) {
	b.ReportAllocs()
	w := flowctl.NewRecvWindow(cfg)
	for b.Loop() {
		if err := w.OnData(w.Received(), 16*kib); err != nil {
			b.Fatal(err)
		}
		w.OnConsume(16 * kib)
		w.PendingGrant()
	}
}

func BenchmarkRecvWindowFrameCycle(b *testing.B) {
	b.Run("fixed", func(b *testing.B) { benchRecvCycle(b, flowctl.RecvConfig{FixedWindow: true}) })
	b.Run("autotune+budget", func(b *testing.B) {
		rtt := &flowctl.RTTStats{}
		rtt.AddSample(time.Millisecond)
		benchRecvCycle(b, flowctl.RecvConfig{RTT: rtt, Budget: flowctl.NewBudget(64 << 20)})
	})
}

func BenchmarkRecvWindowGrantDue(b *testing.B) {
	b.ReportAllocs()
	w := flowctl.NewRecvWindow(flowctl.RecvConfig{})
	for b.Loop() {
		if w.GrantDue() {
			b.Fatal("nothing consumed")
		}
	}
}

func BenchmarkBudgetAcquireRelease(b *testing.B) {
	b.ReportAllocs()
	bud := flowctl.NewBudget(64 << 20)
	for b.Loop() {
		bud.Release(bud.Acquire(128*kib, 64*kib))
	}
}

func BenchmarkBudgetAcquireReleaseParallel(b *testing.B) {
	b.ReportAllocs()
	bud := flowctl.NewBudget(64 << 20)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bud.Release(bud.Acquire(128*kib, 64*kib))
		}
	})
}

func BenchmarkSchedulerPopPush(b *testing.B) {
	for _, streams := range []int{8, 1024} {
		b.Run(strconv.Itoa(streams), func(b *testing.B) {
			b.ReportAllocs()
			var s flowctl.SendScheduler
			for id := range streams {
				s.Push(uint32(id), uint8(id%3))
			}
			for b.Loop() {
				id, _ := s.Pop()
				s.Push(id, uint8(id%3))
			}
		})
	}
}

func BenchmarkControlQueuePushPop(b *testing.B) {
	b.ReportAllocs()
	q := flowctl.NewControlQueue[uint64](1024)
	for i := range 100 {
		_ = q.Push(uint64(i))
	}
	for b.Loop() {
		v, _ := q.Pop()
		if err := q.Push(v); err != nil {
			b.Fatal(err)
		}
	}
}
