package dataset

import (
	"math"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// Fast paths for decimals whose stored value fits an int64 (every decimal
// of precision 18 or less, and most others in practice). They produce and
// accept exactly what formatDecimal and parseDecimalText do, without
// math/big and without allocating; anything else takes the general path.

// pow10u64[i] is 10^i, for i in 0..19.
var pow10u64 = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// decimalAbs64 returns |n| and its sign when |n| fits a uint64.
func decimalAbs64(n decimal128.Num) (abs uint64, neg, ok bool) {
	hi, lo := n.HighBits(), n.LowBits()
	switch {
	case hi == 0:
		return lo, false, true
	case hi == -1 && lo != 0: // n = lo - 2^64, |n| = 2^64 - lo
		return -lo, true, true
	}
	return 0, false, false
}

// appendDecimal appends formatDecimal(n, scale) to dst.
func appendDecimal(dst []byte, n decimal128.Num, scale int) []byte {
	abs, neg, ok := decimalAbs64(n)
	if !ok {
		return append(dst, formatDecimal(n, scale)...)
	}
	var tmp [24]byte
	digits := strconv.AppendUint(tmp[:0], abs, 10)
	if neg && abs != 0 {
		dst = append(dst, '-')
	}
	switch {
	case scale <= 0:
		return append(dst, digits...)
	case len(digits) <= scale:
		dst = append(dst, '0', '.')
		for range scale - len(digits) {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	default:
		at := len(digits) - scale
		dst = append(dst, digits[:at]...)
		dst = append(dst, '.')
		return append(dst, digits[at:]...)
	}
}

// decimalFits reports whether n fits precision digits, as checkDecimal.
func decimalFits(n decimal128.Num, precision int) bool {
	if abs, _, ok := decimalAbs64(n); ok && precision < len(pow10u64) {
		return abs < pow10u64[precision]
	}
	return n.FitsInPrecision(int32(precision))
}

// parseDecimalFast parses the common form [+-]digits[.digits] of a decimal
// (no exponent) whose stored value is below 10^18, as parseDecimalText
// does. ok is false for any other text, valid or not: the caller then runs
// parseDecimalText, which gives the same value or the error.
func parseDecimalFast[T string | []byte](s T, precision, scale int) (v decimal128.Num, ok bool) {
	i := 0
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		i++
	}
	var u uint64
	intDigits, fracDigits := 0, 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		u = u*10 + uint64(s[i]-'0')
		if intDigits++; intDigits > 18 {
			return v, false
		}
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			u = u*10 + uint64(s[i]-'0')
			if fracDigits++; intDigits+fracDigits > 18 {
				return v, false
			}
		}
	}
	if i != len(s) || intDigits+fracDigits == 0 || fracDigits > scale || intDigits+scale > 18 {
		return v, false
	}
	u *= pow10u64[scale-fracDigits] // < 10^(intDigits+scale) <= 10^18
	if precision < len(pow10u64) && u >= pow10u64[precision] {
		return v, false
	}
	if u > math.MaxInt64 {
		return v, false
	}
	x := int64(u)
	if neg {
		x = -x
	}
	return decimal128.FromI64(x), true
}
