// Package bufpool lends message buffers by power-of-two size class, so that a
// connection holds a read buffer only while a message is in hand: idle
// connections hold none.
//
// Concurrency: Get and Put are safe for concurrent use.
package bufpool

import (
	"math/bits"
	"sync"
)

// Size classes: 4 KiB (1<<minShift) to 64 MiB (1<<maxShift); larger buffers are
// allocated and dropped.
const (
	minShift = 12
	maxShift = 26
)

var pools [maxShift - minShift + 1]sync.Pool

// class returns the smallest size class holding n bytes.
func class(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minShift
}

// Get returns a buffer of at least n bytes, its length its capacity (its
// contents are whatever the last user left). Return it with Put when done; the
// pointer travels with the buffer so that neither allocates.
func Get(n int) *[]byte {
	c := class(n)
	if c >= len(pools) {
		b := make([]byte, n)
		return &b
	}
	if p, ok := pools[c].Get().(*[]byte); ok {
		*p = (*p)[:cap(*p)]
		return p
	}
	b := make([]byte, 1<<(c+minShift))
	return &b
}

// Put returns p's buffer, which must not be used afterwards. Buffers whose
// capacity is not a size class are dropped.
func Put(p *[]byte) {
	if p == nil {
		return
	}
	c := class(cap(*p))
	if c >= len(pools) || cap(*p) != 1<<(c+minShift) {
		return
	}
	pools[c].Put(p)
}
