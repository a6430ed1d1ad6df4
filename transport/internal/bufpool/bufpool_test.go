package bufpool

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGetPut(t *testing.T) {
	for _, n := range []int{0, 1, 4096, 4097, 65536, 300000, 1 << 26, 1<<26 + 1} {
		p := Get(n)
		b := *p
		require.GreaterOrEqual(t, len(b), n)
		require.Equal(t, len(b), cap(b))
		if n <= 1<<26 {
			require.Equal(t, 0, cap(b)&(cap(b)-1), "a power of two")
			require.Less(t, cap(b), 2*max(n, 4096)+1, "the smallest class that holds n")
		}
		Put(p)
	}
	odd := make([]byte, 5000)
	Put(&odd) // not a class: dropped, no panic
	Put(nil)
	require.GreaterOrEqual(t, len(*Get(10)), 10)
}
