package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// ErrUnknownScenario is returned (wrapped) when a scenario filter names no
// scenario.
var ErrUnknownScenario = errors.New("bench: unknown scenario")

// ErrNoContenders is returned (wrapped) when a scenario that was asked for
// has no contender to run, or its baseline is not among them.
var ErrNoContenders = errors.New("bench: no contenders")

// Options configure Run.
type Options struct {
	// Profile sizes the run; it must pass Validate.
	Profile Profile
	// Scenarios selects scenarios by name; empty means all, in the order of
	// ScenarioNames.
	Scenarios []string
	// Progress receives one line per measurement as the run goes; nil
	// discards them.
	Progress io.Writer
}

// scenario is one entry of the run order.
type scenario struct {
	name  string
	title string
	run   func(ctx context.Context, r *runner) (*ScenarioResult, error)
}

// scenarios is the run order. Names are the values --scenario accepts.
var scenarios = []scenario{
	{"throughput", "Throughput, one stream", runThroughput},
	{"concurrency", "Concurrency: aggregate throughput and fairness", runConcurrency},
	{"hol", "Head-of-line: small-message RTT under bulk load", runHOL},
	{"longfat", "Long fat link: one stream over an emulated high-latency path", runLongFat},
	{"lossy", "Lossy link: throughput and latency under packet loss, TCP vs QUIC", runLossy},
	{"compression", "Compression per algorithm and level", runCompression},
	{"sessions", "Idle sessions: memory and handshakes", runSessions},
	{"dataset", "Dataset export: rows, row-batched and Arrow layouts", runDataset},
	{"fanout", "Broadcast fan-out: one publisher, N subscribers", runFanout},
}

// busyMachine is the share of CPU time used by other processes above which
// a scenario's numbers are flagged as disturbed.
const busyMachine = 0.05

// ScenarioNames lists every scenario in run order.
func ScenarioNames() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	return names
}

// runner is the state of one Run shared by the scenarios.
type runner struct {
	profile    Profile
	contenders Contenders
	progress   io.Writer
}

func (r *runner) logf(format string, args ...any) {
	if r.progress != nil {
		fmt.Fprintf(r.progress, format+"\n", args...)
	}
}

// Run executes the selected scenarios with every contender and returns the
// report. A contender that fails a measurement gets the error in its row
// and the run goes on; Run itself fails only for bad options or a
// cancelled ctx.
func Run(ctx context.Context, contenders Contenders, opts Options) (*Report, error) {
	if err := opts.Profile.Validate(); err != nil {
		return nil, err
	}
	selected, err := selectScenarios(opts.Scenarios)
	if err != nil {
		return nil, err
	}
	r := &runner{profile: opts.Profile, contenders: contenders, progress: opts.Progress}
	rep := &Report{
		Schema:    SchemaVersion,
		StartedAt: time.Now().UTC(),
		Host: Host{
			GoVersion:  runtime.Version(),
			OS:         runtime.GOOS,
			Arch:       runtime.GOARCH,
			CPUs:       runtime.NumCPU(),
			GOMAXPROCS: runtime.GOMAXPROCS(0),
		},
		Profile: opts.Profile,
	}
	runStart := readCPU()
	for _, s := range selected {
		r.logf("== %s: %s", s.name, s.title)
		start, cpu0 := time.Now(), readCPU()
		res, err := s.run(ctx, r)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", s.name, err)
		}
		res.Name, res.Title = s.name, s.title
		res.Seconds = time.Since(start).Seconds()
		res.OtherCPU = optional(otherCPU(cpu0, readCPU()))
		if res.OtherCPU != nil && *res.OtherCPU > busyMachine {
			r.logf("warning: other processes used %.0f%% of the CPU during %s; its numbers are disturbed",
				100**res.OtherCPU, s.name)
		}
		rep.Scenarios = append(rep.Scenarios, *res)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	rep.Host.OtherCPU = optional(otherCPU(runStart, readCPU()))
	rep.Seconds = time.Since(rep.StartedAt).Seconds()
	return rep, nil
}

func selectScenarios(names []string) ([]scenario, error) {
	if len(names) == 0 {
		return scenarios, nil
	}
	var out []scenario
	for _, s := range scenarios {
		if slices.Contains(names, s.name) {
			out = append(out, s)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(scenarios, func(s scenario) bool { return s.name == n }) {
			return nil, fmt.Errorf("%w %q (have %s)", ErrUnknownScenario, n, strings.Join(ScenarioNames(), ", "))
		}
	}
	return out, nil
}

// streamContenders returns the stream contenders and their infos, checking
// that the baseline is among them.
func (r *runner) streamContenders() ([]Contender, []ContenderInfo, error) {
	cs := r.contenders.Streams
	if len(cs) == 0 {
		return nil, nil, fmt.Errorf("%w: no stream contenders", ErrNoContenders)
	}
	infos := make([]ContenderInfo, len(cs))
	found := false
	for i, c := range cs {
		infos[i] = ContenderInfo{Name: c.Name(), Description: c.Description()}
		found = found || c.Name() == r.contenders.Baseline
	}
	if !found {
		return nil, nil, fmt.Errorf("%w: baseline %q is not a stream contender", ErrNoContenders, r.contenders.Baseline)
	}
	return cs, infos, nil
}

// finish turns a collector into a scenario result.
func finish(col *collector, res *ScenarioResult) (*ScenarioResult, error) {
	rows, err := col.rows(res.Metrics, res.Baseline)
	if err != nil {
		return nil, err
	}
	res.Rows = rows
	res.Cases = col.cases
	return res, nil
}

// mbps converts bytes per second to MB/s (10^6 bytes).
func mbps(bytesPerSec float64) float64 { return bytesPerSec / 1e6 }

// sizeLabel formats a byte count as "4KiB", "1MiB" or "100B".
func sizeLabel(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	default:
		return fmt.Sprintf("%dB", n)
	}
}
