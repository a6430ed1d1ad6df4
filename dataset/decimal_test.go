package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/stretchr/testify/require"
)

// TestDecimalFastPathsAgree checks the int64 fast paths of decimal
// formatting, precision checks and parsing against the general ones.
func TestDecimalFastPathsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	vals := []decimal128.Num{
		decimal128.FromI64(0), decimal128.FromI64(1), decimal128.FromI64(-1), decimal128.FromI64(5), decimal128.FromI64(-5),
		decimal128.FromI64(math.MaxInt64), decimal128.FromI64(math.MinInt64), decimal128.FromU64(math.MaxUint64),
		decimal128.New(-1, 0), decimal128.New(-1, 1), decimal128.New(1, 0), decimal128.New(-2, math.MaxUint64),
		decimal128.FromI64(999_999_999_999_999_999), decimal128.FromI64(-1_000_000_000_000_000_000),
	}
	for range 2000 {
		x := rng.Int64() >> rng.IntN(64)
		vals = append(vals, decimal128.FromI64(x), decimal128.FromI64(-x))
	}
	for _, v := range vals {
		for _, scale := range []int{0, 1, 2, 5, 10, 18, 19, 38} {
			want := formatDecimal(v, scale)
			require.Equal(t, want, string(appendDecimal([]byte("x"), v, scale))[1:], "value %s scale %d", v.BigInt(), scale)
		}
		for prec := 1; prec <= 38; prec++ {
			require.Equal(t, v.FitsInPrecision(int32(prec)), decimalFits(v, prec), "value %s precision %d", v.BigInt(), prec)
		}
	}
	texts := []string{"", "-", "+", ".", "-.", "0", "-0", "+0", "0.", ".0", "5.", ".5", "-.5", "1.5", "1.50", "1.500",
		"12.34", "-12.34", "+12.34", "007.10", "1e2", "1.5E-1", "1..2", "1.2.3", "--1", "1-", " 1", "1 ", "abc", "١",
		"999999999999999999", "9999999999999999999", "99999999999999999.9", "123456789012345678.5",
		"0.000000000000000001", "00000000000000000000001", "-9223372036854775808", "9223372036854775807"}
	for range 3000 {
		x := rng.Int64() >> rng.IntN(64)
		texts = append(texts, fmt.Sprint(x), fmt.Sprintf("%d.%0*d", x, rng.IntN(6), rng.IntN(1000)))
	}
	hits := 0
	for _, s := range texts {
		for _, ps := range [][2]int{{1, 0}, {3, 1}, {5, 2}, {12, 2}, {18, 0}, {18, 6}, {19, 2}, {38, 10}, {38, 0}, {20, 19}} {
			fast, ok := parseDecimalFast(s, ps[0], ps[1])
			fastB, okB := parseDecimalFast([]byte(s), ps[0], ps[1])
			require.Equal(t, ok, okB)
			require.Equal(t, fast, fastB)
			slow, err := parseDecimalSlow(s, ps[0], ps[1])
			if ok {
				hits++
				require.NoError(t, err, "%q decimal(%d,%d): the fast path accepted it", s, ps[0], ps[1])
				require.Equal(t, slow, fast, "%q decimal(%d,%d)", s, ps[0], ps[1])
			}
			got, err2 := parseDecimalText(s, ps[0], ps[1])
			require.Equal(t, err == nil, err2 == nil, "%q", s)
			if err == nil {
				require.Equal(t, slow, got)
			} else {
				require.Equal(t, err.Error(), err2.Error())
			}
		}
	}
	require.Greater(t, hits, len(texts), "the fast path takes the common forms")
}

// TestCheckDecimalsAgrees checks the one-comparison precision check of
// Arrow input against checkDecimal on each valid value.
func TestCheckDecimalsAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for prec := 1; prec <= 38; prec++ {
		for range 20 {
			b := array.NewDecimal128Builder(memory.DefaultAllocator, &arrow.Decimal128Type{Precision: 38, Scale: 0})
			for range 50 {
				if rng.IntN(8) == 0 {
					b.AppendNull()
					continue
				}
				var v decimal128.Num
				switch rng.IntN(4) {
				case 0:
					v = decimal128.FromI64(rng.Int64N(2*int64(pow10u64[min(prec, 18)])) - int64(pow10u64[min(prec, 18)]))
				case 1:
					v = decimal128.New(rng.Int64()>>rng.IntN(64), rng.Uint64())
				default:
					v = decimal128.FromI64(rng.Int64() >> rng.IntN(64))
				}
				b.Append(v)
			}
			arr := b.NewDecimal128Array()
			b.Release()
			for _, a := range []*array.Decimal128{arr, array.NewSlice(arr, 3, 40).(*array.Decimal128)} {
				var exp error
				for i := 0; i < a.Len() && exp == nil; i++ {
					if a.IsValid(i) {
						exp = checkDecimal(a.Value(i), prec)
					}
				}
				require.Equal(t, exp == nil, checkDecimals(a, prec) == nil, "precision %d", prec)
				if exp != nil {
					require.EqualError(t, checkDecimals(a, prec), exp.Error())
				}
				a.Release()
			}
		}
	}
}
