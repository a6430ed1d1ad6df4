package dataset

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// This file holds the value conventions shared by every text form (CSV,
// JSON Lines, the rows layout) and by Row values. They are specified in
// docs/DATASET.md, section "Value encodings".

// unitsPerSecond returns how many units make one second.
func unitsPerSecond(u TimeUnit) int64 {
	switch u {
	case UnitSecond:
		return 1
	case UnitMilli:
		return 1e3
	case UnitNano:
		return 1e9
	default:
		return 1e6
	}
}

// wallClock returns t's wall-clock fields re-read as UTC, which is how
// timestamps without a zone are stored.
func wallClock(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)
}

// timeToStored converts t to the stored int64 of a timestamp column. For a
// column without zone (loc nil) it stores t's wall clock; otherwise t's
// instant. Sub-unit digits are an error, never silently truncated.
func timeToStored(t time.Time, u TimeUnit, loc *time.Location) (int64, error) {
	if loc == nil {
		t = wallClock(t)
	}
	per := unitsPerSecond(u)
	nsPer := 1e9 / per
	secs, ns := t.Unix(), int64(t.Nanosecond())
	if ns%nsPer != 0 {
		return 0, fmt.Errorf("timestamp %s has more precision than unit %q", t.Format(time.RFC3339Nano), u)
	}
	if secs > math.MaxInt64/per || secs < math.MinInt64/per {
		return 0, fmt.Errorf("timestamp %s is out of range for unit %q", t.Format(time.RFC3339Nano), u)
	}
	v := secs * per
	sub := ns / nsPer
	if (sub > 0 && v > math.MaxInt64-sub) || (sub < 0 && v < math.MinInt64-sub) {
		return 0, fmt.Errorf("timestamp %s is out of range for unit %q", t.Format(time.RFC3339Nano), u)
	}
	return v + sub, nil
}

// storedToTime converts a stored timestamp to a time.Time in loc (UTC for
// wall-clock columns).
func storedToTime(v int64, u TimeUnit, loc *time.Location) time.Time {
	per := unitsPerSecond(u)
	secs, rem := v/per, v%per
	if rem < 0 {
		secs--
		rem += per
	}
	t := time.Unix(secs, rem*(1e9/per)).UTC()
	if loc != nil {
		t = t.In(loc)
	}
	return t
}

var timestampLayouts = map[TimeUnit][2]string{
	UnitSecond: {"2006-01-02T15:04:05", "2006-01-02T15:04:05Z07:00"},
	UnitMilli:  {"2006-01-02T15:04:05.000", "2006-01-02T15:04:05.000Z07:00"},
	UnitMicro:  {"2006-01-02T15:04:05.000000", "2006-01-02T15:04:05.000000Z07:00"},
	UnitNano:   {"2006-01-02T15:04:05.000000000", "2006-01-02T15:04:05.000000000Z07:00"},
}

// appendTimestampText renders a stored timestamp as RFC 3339 with exactly
// the unit's fraction digits, with the zone's offset (none for wall-clock
// columns). Years outside 0000..9999 cannot be written in RFC 3339; those
// values are rendered as the stored integer, which parseTimestampText reads back.
func appendTimestampText(buf []byte, v int64, u TimeUnit, loc *time.Location) []byte {
	t := storedToTime(v, u, loc)
	if y := t.Year(); y < 0 || y > 9999 {
		return strconv.AppendInt(buf, v, 10)
	}
	l := timestampLayouts[u]
	if _, off := t.Zone(); off%60 != 0 {
		t = t.UTC() // RFC 3339 offsets have no seconds (old local mean times do): write the instant in UTC
	}
	if loc == nil {
		return t.AppendFormat(buf, l[0])
	}
	return t.AppendFormat(buf, l[1])
}

func isInteger(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

var errTimestampSyntax = errors.New("not an RFC 3339 timestamp (2006-01-02T15:04:05[.fraction][Z|±hh:mm]) nor an integer")

// parseTimestampText parses RFC 3339 text (a space may replace the 'T'; the
// offset may be omitted, and then the time is a wall clock in the column's
// zone; a bare date means midnight) or a plain integer (the stored value).
func parseTimestampText(s string, u TimeUnit, loc *time.Location) (int64, error) {
	if isInteger(s) {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("timestamp %q: %w", s, errors.Unwrap(err))
		}
		return v, nil
	}
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	in := loc
	if in == nil {
		in = time.UTC
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err == nil {
		if loc == nil {
			t = t.UTC() // an instant written into a wall-clock column is stored as UTC wall clock
		}
	} else if t, err = time.ParseInLocation("2006-01-02T15:04:05.999999999", s, in); err == nil {
	} else if t, err = time.ParseInLocation("2006-01-02", s, in); err != nil {
		return 0, fmt.Errorf("timestamp %q: %w", s, errTimestampSyntax)
	}
	return timeToStored(t, u, loc)
}

// dateToDays converts t's calendar date (its own location) to days since
// 1970-01-01.
func dateToDays(t time.Time) (int32, error) {
	y, m, d := t.Date()
	days := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
	if days > math.MaxInt32 || days < math.MinInt32 {
		return 0, fmt.Errorf("date %04d-%02d-%02d is out of range", y, m, d)
	}
	return int32(days), nil
}

// daysToTime returns midnight UTC of a stored date.
func daysToTime(d int32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// appendDateText renders a stored date as YYYY-MM-DD, or as the integer
// day count when the year is outside 0000..9999.
func appendDateText(buf []byte, d int32) []byte {
	t := daysToTime(d)
	if y := t.Year(); y < 0 || y > 9999 {
		return strconv.AppendInt(buf, int64(d), 10)
	}
	return t.AppendFormat(buf, "2006-01-02")
}

// parseDateText parses YYYY-MM-DD or an integer day count.
func parseDateText(s string) (int32, error) {
	if isInteger(s) {
		v, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("date %q: %w", s, errors.Unwrap(err))
		}
		return int32(v), nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return 0, fmt.Errorf("date %q is not YYYY-MM-DD nor an integer day count", s)
	}
	return dateToDays(t)
}

// parseFloatText parses a float64, including NaN, Inf, +Inf, -Inf,
// Infinity and -Infinity (any case). Overflow is an error.
func parseFloatText(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("float %q: %w", s, errors.Unwrap(err))
	}
	return f, nil
}

// appendFloatText renders f in the shortest form that reads back to the
// same bits (NaN, +Inf and -Inf for the specials, -0 for negative zero).
func appendFloatText(buf []byte, f float64) []byte {
	return strconv.AppendFloat(buf, f, 'g', -1, 64)
}

// parseBoolText accepts true/false and the strconv.ParseBool forms.
func parseBoolText(s string) (bool, error) {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("bool %q is not true or false", s)
	}
	return b, nil
}

// parseDecimalText parses an exact decimal ([+-]digits[.digits][e[+-]digits])
// into a decimal128 with the given scale. Digits beyond the scale must be
// zeros and the result must fit the precision: nothing is rounded.
func parseDecimalText(s string, precision, scale int) (decimal128.Num, error) {
	if v, ok := parseDecimalFast(s, precision, scale); ok {
		return v, nil
	}
	return parseDecimalSlow(s, precision, scale)
}

// parseDecimalSlow is parseDecimalText without the fast path.
func parseDecimalSlow(s string, precision, scale int) (decimal128.Num, error) {
	bad := func(why string) (decimal128.Num, error) {
		return decimal128.Num{}, fmt.Errorf("decimal %q: %s", s, why)
	}
	str := s
	neg := false
	if str != "" && (str[0] == '+' || str[0] == '-') {
		neg = str[0] == '-'
		str = str[1:]
	}
	exp := 0
	if i := strings.IndexAny(str, "eE"); i >= 0 {
		e, err := strconv.Atoi(str[i+1:])
		if err != nil || e > 1000 || e < -1000 {
			return bad("bad exponent")
		}
		exp, str = e, str[:i]
	}
	intPart, frac, _ := strings.Cut(str, ".")
	if intPart == "" && frac == "" {
		return bad("no digits")
	}
	digits := intPart + frac
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return bad("not a decimal number")
		}
	}
	// value = digits × 10^(exp-len(frac)); stored = value × 10^scale.
	shift := exp - len(frac) + scale
	if shift < 0 {
		drop := min(-shift, len(digits))
		if strings.Trim(digits[len(digits)-drop:], "0") != "" {
			return bad(fmt.Sprintf("more than %d digits after the point", scale))
		}
		digits = digits[:len(digits)-drop]
	} else if shift > 0 {
		if shift > MaxDecimalPrecision+1 {
			return bad(fmt.Sprintf("does not fit decimal(%d,%d)", precision, scale))
		}
		digits += strings.Repeat("0", shift)
	}
	digits = strings.TrimLeft(digits, "0")
	if len(digits) > precision {
		return bad(fmt.Sprintf("does not fit decimal(%d,%d)", precision, scale))
	}
	if digits == "" {
		return decimal128.Num{}, nil
	}
	var bi big.Int
	bi.SetString(digits, 10)
	if neg {
		bi.Neg(&bi)
	}
	return decimal128.FromBigInt(&bi), nil
}

// formatDecimal renders a stored decimal with exactly scale fraction digits.
func formatDecimal(n decimal128.Num, scale int) string { return n.ToString(int32(scale)) }

// checkDecimal verifies that a stored decimal fits its precision.
func checkDecimal(n decimal128.Num, precision int) error {
	if !decimalFits(n, precision) {
		return fmt.Errorf("decimal %s does not fit precision %d", n.BigInt(), precision)
	}
	return nil
}
