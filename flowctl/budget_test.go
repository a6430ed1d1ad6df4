package flowctl_test

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/flowctl"
)

func TestBudgetCapAndFloor(t *testing.T) {
	b := flowctl.NewBudget(1000)
	require.Equal(t, uint64(1000), b.Cap())
	require.Equal(t, uint64(600), b.Acquire(600, 0))
	require.Equal(t, uint64(400), b.Acquire(600, 0), "partial grant up to the cap")
	require.Zero(t, b.Acquire(600, 0), "cap reached, no floor")
	require.Zero(t, b.Available())
	require.Equal(t, uint64(100), b.Acquire(600, 100), "the floor is granted beyond the cap")
	require.Equal(t, uint64(1100), b.InUse())
	require.Equal(t, uint64(5), b.Acquire(5, 100), "floor clamped to want")

	b.Release(605)
	require.Equal(t, uint64(500), b.InUse())
	require.Equal(t, uint64(500), b.Available())
	require.Equal(t, uint64(500), b.Acquire(math.MaxUint64, 1))
	b.Release(1000)
	require.Zero(t, b.InUse())
	require.PanicsWithValue(t, "flowctl: Budget.Release(1) with only 0 bytes in use", func() { b.Release(1) })
}

func TestBudgetZeroCapGrantsOnlyFloors(t *testing.T) {
	b := flowctl.NewBudget(0)
	require.Zero(t, b.Acquire(100, 0))
	require.Equal(t, uint64(10), b.Acquire(100, 10))
}

func TestNilBudgetIsUnlimited(t *testing.T) {
	var b *flowctl.Budget
	require.Equal(t, uint64(1<<40), b.Acquire(1<<40, 0))
	b.Release(1 << 40)
	require.Zero(t, b.InUse())
	require.Equal(t, uint64(math.MaxUint64), b.Cap())
	require.Equal(t, uint64(math.MaxUint64), b.Available())
}

// TestBudgetConcurrentBound runs goroutines that each behave like a stream following the
// floor rule (ask for a floor only while holding nothing) and checks the documented worst
// case cap + streams × floor at every step, and that every byte comes back.
func TestBudgetConcurrentBound(t *testing.T) {
	const (
		capBytes   = 10_000
		floor      = 300
		goroutines = 8
		rounds     = 5_000
	)
	b := flowctl.NewBudget(capBytes)
	var wg sync.WaitGroup
	violations := make(chan uint64, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			var held uint64
			for range rounds {
				if held == 0 || rng.IntN(2) == 0 {
					var f uint64
					if held == 0 {
						f = floor
					}
					held += b.Acquire(uint64(rng.IntN(3000)+floor), f)
					if used := b.InUse(); used > capBytes+goroutines*floor {
						violations <- used
						return
					}
				} else {
					n := uint64(rng.IntN(int(held))) + 1
					b.Release(n)
					held -= n
				}
			}
			b.Release(held)
		}()
	}
	wg.Wait()
	close(violations)
	for v := range violations {
		t.Fatalf("budget in use %d above cap+floors %d", v, capBytes+goroutines*floor)
	}
	require.Zero(t, b.InUse())
}
