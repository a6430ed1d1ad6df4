package harness

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/streamd/streamd/bench/internal/stats"
)

// SchemaVersion identifies the JSON layout of a Report; it changes whenever
// a field changes meaning or is removed.
const SchemaVersion = "streamd-bench/1"

// Report is the outcome of one run: every scenario with every contender,
// ready for a table, JSON or an HTML page. The JSON schema is documented in
// bench/README.md.
type Report struct {
	// Schema is SchemaVersion.
	Schema string `json:"schema"`
	// StartedAt is when the run began.
	StartedAt time.Time `json:"started_at"`
	// Seconds is the wall time of the whole run.
	Seconds float64 `json:"seconds"`
	// Host describes the machine and Go runtime.
	Host Host `json:"host"`
	// Profile is the sizing the run used.
	Profile Profile `json:"profile"`
	// Scenarios holds one entry per scenario that ran, in run order.
	Scenarios []ScenarioResult `json:"scenarios"`
}

// Host describes where a run happened.
type Host struct {
	// GoVersion is runtime.Version().
	GoVersion string `json:"go_version"`
	// OS is runtime.GOOS.
	OS string `json:"os"`
	// Arch is runtime.GOARCH.
	Arch string `json:"arch"`
	// CPUs is runtime.NumCPU().
	CPUs int `json:"cpus"`
	// GOMAXPROCS is the value in force during the run.
	GOMAXPROCS int `json:"gomaxprocs"`
	// OtherCPU is the fraction (0–1) of the machine's CPU time that other
	// processes used during the run; absent where unknown. Above a few
	// percent the numbers are disturbed.
	OtherCPU *float64 `json:"other_cpu,omitempty"`
}

// ScenarioResult is one scenario: its metrics, contenders and one row per
// (case, contender).
type ScenarioResult struct {
	// Name is the scenario's identifier, as given to --scenario.
	Name string `json:"name"`
	// Title is a human heading.
	Title string `json:"title"`
	// Description says what is measured and how.
	Description string `json:"description"`
	// Baseline is the contender whose medians ratios are computed against.
	Baseline string `json:"baseline"`
	// Primary is the Key of the headline metric (charted, first in tables).
	Primary string `json:"primary"`
	// Metrics describes every metric that rows may carry, in display order.
	Metrics []Metric `json:"metrics"`
	// Contenders lists the contenders that took part, in display order.
	Contenders []ContenderInfo `json:"contenders"`
	// Cases lists the case labels in display order.
	Cases []string `json:"cases"`
	// Rows holds the measurements, case-major, contender-minor.
	Rows []Row `json:"rows"`
	// Notes are remarks about this run of the scenario (link parameters,
	// substitutions, skipped parts).
	Notes []string `json:"notes,omitempty"`
	// Seconds is the wall time of the scenario.
	Seconds float64 `json:"seconds"`
	// OtherCPU is Host.OtherCPU for this scenario alone.
	OtherCPU *float64 `json:"other_cpu,omitempty"`
}

// Metric describes one measured quantity.
type Metric struct {
	// Key names the metric in Row.Values.
	Key string `json:"key"`
	// Label is a short human name.
	Label string `json:"label"`
	// Unit is the unit of the values ("MB/s" is 10^6 bytes per second).
	Unit string `json:"unit"`
	// HigherIsBetter tells how to read the metric and its ratio.
	HigherIsBetter bool `json:"higher_is_better"`
	// Chart asks the HTML report to draw a chart of this metric.
	Chart bool `json:"chart"`
}

// ContenderInfo names and describes a contender.
type ContenderInfo struct {
	// Name is the contender's label.
	Name string `json:"name"`
	// Description says what it is and how it is configured.
	Description string `json:"description"`
}

// Row is one contender in one case of a scenario.
type Row struct {
	// Case is the case label ("64KiB up", "8 streams").
	Case string `json:"case"`
	// Contender is the contender's Name.
	Contender string `json:"contender"`
	// Values maps a Metric.Key to its summary over the repeats. A metric is
	// absent when no repeat produced it.
	Values map[string]Value `json:"values"`
	// Error is the first error a repeat of this row hit, if any; repeats
	// that failed contribute no samples.
	Error string `json:"error,omitempty"`
}

// Value is one metric summarised over the repeats of a row.
type Value struct {
	stats.Summary
	// Samples holds one value per successful repeat, in run order.
	Samples []float64 `json:"samples"`
	// Ratio is Median divided by the baseline contender's median of the same
	// metric in the same case; absent when there is no baseline value.
	Ratio *float64 `json:"ratio,omitempty"`
}

// Row looks up the row of contender in case c; ok is false if there is none.
func (s *ScenarioResult) Row(c, contender string) (Row, bool) {
	for _, r := range s.Rows {
		if r.Case == c && r.Contender == contender {
			return r, true
		}
	}
	return Row{}, false
}

// Metric looks up the description of the metric key.
func (s *ScenarioResult) Metric(key string) (Metric, bool) {
	for _, m := range s.Metrics {
		if m.Key == key {
			return m, true
		}
	}
	return Metric{}, false
}

// collector gathers samples as a scenario runs and turns them into rows.
type collector struct {
	cases      []string
	contenders []string
	samples    map[[2]string]map[string][]float64
	errs       map[[2]string]string
}

func newCollector() *collector {
	return &collector{
		samples: make(map[[2]string]map[string][]float64),
		errs:    make(map[[2]string]string),
	}
}

func (c *collector) touch(caseName, contender string) [2]string {
	if !slices.Contains(c.cases, caseName) {
		c.cases = append(c.cases, caseName)
	}
	if !slices.Contains(c.contenders, contender) {
		c.contenders = append(c.contenders, contender)
	}
	k := [2]string{caseName, contender}
	if c.samples[k] == nil {
		c.samples[k] = make(map[string][]float64)
	}
	return k
}

// add records one sample; NaN and infinities are dropped as "not measured".
func (c *collector) add(caseName, contender, metric string, v float64) {
	k := c.touch(caseName, contender)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	c.samples[k][metric] = append(c.samples[k][metric], v)
}

// fail records that one repeat of the row failed; the first error is kept.
func (c *collector) fail(caseName, contender string, err error) {
	k := c.touch(caseName, contender)
	if _, ok := c.errs[k]; !ok {
		c.errs[k] = err.Error()
	}
}

// rows summarises everything collected, with ratios to baseline.
func (c *collector) rows(metrics []Metric, baseline string) ([]Row, error) {
	var rows []Row
	for _, cs := range c.cases {
		for _, ct := range c.contenders {
			k := [2]string{cs, ct}
			if _, ok := c.samples[k]; !ok {
				continue
			}
			row := Row{Case: cs, Contender: ct, Values: make(map[string]Value), Error: c.errs[k]}
			for _, m := range metrics {
				xs := c.samples[k][m.Key]
				if len(xs) == 0 {
					continue
				}
				sum, err := stats.Summarize(xs)
				if err != nil {
					return nil, fmt.Errorf("summarise %s/%s/%s: %w", cs, ct, m.Key, err)
				}
				row.Values[m.Key] = Value{Summary: sum, Samples: xs}
			}
			rows = append(rows, row)
		}
	}
	for i := range rows {
		base, ok := findRow(rows, rows[i].Case, baseline)
		if !ok {
			continue
		}
		for key, v := range rows[i].Values {
			bv, ok := base.Values[key]
			if !ok || bv.Median == 0 {
				continue
			}
			r := v.Median / bv.Median
			v.Ratio = &r
			rows[i].Values[key] = v
		}
	}
	return rows, nil
}

func findRow(rows []Row, c, contender string) (Row, bool) {
	for _, r := range rows {
		if r.Case == c && r.Contender == contender {
			return r, true
		}
	}
	return Row{}, false
}
