package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/streamd/streamd/bench/internal/harness"
)

// WriteJSON writes rep as indented JSON (schema harness.SchemaVersion).
func WriteJSON(w io.Writer, rep *harness.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteText writes one table per scenario: the primary metric as median
// [min–max] and its ratio to the baseline, then the medians of the other
// metrics.
func WriteText(w io.Writer, rep *harness.Report) error {
	fmt.Fprintf(w, "streamd bench · %s profile, %d repeats · %s %s/%s, %d CPUs · %.0f s%s\n",
		rep.Profile.Name, rep.Profile.Repeat, rep.Host.GoVersion, rep.Host.OS, rep.Host.Arch, rep.Host.CPUs, rep.Seconds,
		otherCPUText(rep.Host.OtherCPU))
	for _, s := range rep.Scenarios {
		fmt.Fprintf(w, "\n== %s (%s) — ratios vs %s%s\n", s.Title, s.Name, s.Baseline, otherCPUText(s.OtherCPU))
		primary, _ := s.Metric(s.Primary)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		head := []string{"case", "contender", primaryHeading(primary), "vs " + s.Baseline}
		for _, m := range s.Metrics {
			if m.Key != s.Primary {
				head = append(head, heading(m))
			}
		}
		fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
		for _, r := range s.Rows {
			cells := []string{r.Case, r.Contender}
			if v, ok := r.Values[s.Primary]; ok {
				cells = append(cells,
					fmt.Sprintf("%s [%s–%s]", Number(v.Median), Number(v.Min), Number(v.Max)),
					ratioText(v.Ratio))
			} else {
				cells = append(cells, "—", "—")
			}
			for _, m := range s.Metrics {
				if m.Key == s.Primary {
					continue
				}
				if v, ok := r.Values[m.Key]; ok {
					cells = append(cells, Number(v.Median))
				} else {
					cells = append(cells, "—")
				}
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, r := range s.Rows {
			if r.Error != "" {
				fmt.Fprintf(w, "  ! %s / %s: %s\n", r.Case, r.Contender, r.Error)
			}
		}
		for _, n := range s.Notes {
			fmt.Fprintf(w, "  note: %s\n", n)
		}
	}
	return nil
}

func primaryHeading(m harness.Metric) string {
	return heading(m) + " median [min–max]"
}

func heading(m harness.Metric) string {
	if m.Unit == "" {
		return m.Label
	}
	return fmt.Sprintf("%s (%s)", m.Label, m.Unit)
}

func ratioText(r *float64) string {
	if r == nil {
		return "—"
	}
	return fmt.Sprintf("%.2f×", *r)
}

// Number formats a measurement with about three significant digits.
func Number(x float64) string {
	a := math.Abs(x)
	switch {
	case math.IsNaN(x):
		return "NaN"
	case a >= 100:
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	case a >= 1:
		return fmt.Sprintf("%.2f", x)
	case a == 0:
		return "0"
	default:
		return fmt.Sprintf("%.3f", x)
	}
}

// DisturbedAbove is the share of CPU used by other processes above which
// the reports flag numbers as disturbed.
const DisturbedAbove = 0.05

// otherCPUText says how much CPU other processes took, and warns when that
// disturbs the numbers.
func otherCPUText(other *float64) string {
	if other == nil {
		return ""
	}
	if *other > DisturbedAbove {
		return fmt.Sprintf(" · WARNING: other processes used %.0f%% of the CPU, numbers are disturbed", 100**other)
	}
	return fmt.Sprintf(" · other processes used %.0f%% of the CPU", 100**other)
}
