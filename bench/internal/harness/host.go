package harness

import (
	"math"
	"os"
	"strconv"
	"strings"
)

// cpuSample is a reading of the machine's and this process's CPU time, in
// clock ticks (Linux /proc; zero elsewhere).
type cpuSample struct {
	ok     bool
	others uint64 // user+nice+system+steal of all CPUs
	total  uint64 // every column of the "cpu" line of /proc/stat
	self   uint64 // utime+stime of this process and its waited-for children
}

func readCPU() cpuSample {
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuSample{}
	}
	var s cpuSample
	for i, v := range f[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return cpuSample{}
		}
		if i < 8 { // guest time is already inside user
			s.total += n
		}
		switch i {
		case 0, 1, 2, 7: // user, nice, system, steal
			s.others += n
		}
	}
	self, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return cpuSample{}
	}
	// Fields after the parenthesised command name; utime is field 14.
	_, rest, ok := strings.Cut(string(self), ") ")
	if !ok {
		return cpuSample{}
	}
	sf := strings.Fields(rest)
	if len(sf) < 15 {
		return cpuSample{}
	}
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		n, err := strconv.ParseUint(sf[i], 10, 64)
		if err != nil {
			return cpuSample{}
		}
		s.self += n
	}
	s.ok = true
	return s
}

// otherCPU is the fraction of the machine's CPU time between a and b that
// went to other processes (and the hypervisor): the share of the machine
// this benchmark did not have. NaN when unknown.
func otherCPU(a, b cpuSample) float64 {
	if !a.ok || !b.ok || b.total <= a.total {
		return math.NaN()
	}
	busy := float64(b.others) - float64(a.others)
	mine := float64(b.self) - float64(a.self)
	return math.Max(0, busy-mine) / float64(b.total-a.total)
}

// optional returns nil for NaN, so that JSON omits unknown values.
func optional(x float64) *float64 {
	if math.IsNaN(x) {
		return nil
	}
	return &x
}
