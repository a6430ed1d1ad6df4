package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/bench/internal/harness"
	"github.com/streamd/streamd/bench/internal/stats"
)

func ratio(x float64) *float64 { return &x }

func sampleReport() *harness.Report {
	mb := harness.Metric{Key: "mb_per_s", Label: "throughput", Unit: "MB/s", HigherIsBetter: true, Chart: true}
	other := harness.Metric{Key: "jain", Label: "Jain's index"}
	val := func(med, lo, hi float64, r *float64) harness.Value {
		return harness.Value{Summary: stats.Summary{Median: med, Min: lo, Max: hi, N: 3}, Samples: []float64{lo, med, hi}, Ratio: r}
	}
	return &harness.Report{
		Schema:    harness.SchemaVersion,
		StartedAt: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC),
		Seconds:   12,
		Host:      harness.Host{GoVersion: "go1.26", OS: "linux", Arch: "amd64", CPUs: 2, GOMAXPROCS: 2},
		Profile:   harness.TinyProfile(),
		Scenarios: []harness.ScenarioResult{{
			Name: "throughput", Title: "Throughput <one stream>", Description: "desc & more",
			Baseline: "tcp", Primary: mb.Key, Metrics: []harness.Metric{mb, other},
			Contenders: []harness.ContenderInfo{{Name: "tcp", Description: "raw"}, {Name: "yamux", Description: "mux"}},
			Cases:      []string{"4KiB up", "1MiB up"},
			Rows: []harness.Row{
				{Case: "4KiB up", Contender: "tcp", Values: map[string]harness.Value{mb.Key: val(1000, 900, 1100, ratio(1)), other.Key: val(0.99, 0.98, 1, nil)}},
				{Case: "4KiB up", Contender: "yamux", Values: map[string]harness.Value{mb.Key: val(500, 400, 600, ratio(0.5))}},
				{Case: "1MiB up", Contender: "tcp", Values: map[string]harness.Value{mb.Key: val(2000, 1900, 2100, ratio(1))}},
				{Case: "1MiB up", Contender: "yamux", Values: map[string]harness.Value{}, Error: "connect: refused </script>"},
			},
			Notes: []string{"a note"},
		}},
	}
}

func TestWriteText(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, sampleReport()))
	out := buf.String()
	require.Contains(t, out, "(throughput)")
	require.Contains(t, out, "1000 [900–1100]")
	require.Contains(t, out, "0.50×")
	require.Contains(t, out, "! 1MiB up / yamux: connect: refused")
	require.Contains(t, out, "note: a note")
	require.Contains(t, out, "0.990", "secondary metrics show their medians")
}

func TestWriteJSONRoundTrips(t *testing.T) {
	rep := sampleReport()
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, rep))
	var back harness.Report
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&back))
	require.Equal(t, rep.Scenarios[0].Rows, back.Scenarios[0].Rows)
	require.Equal(t, rep.Profile, back.Profile)
}

func TestWriteHTMLIsSelfContained(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteHTML(&buf, sampleReport()))
	page := buf.String()
	require.Equal(t, 1, strings.Count(page, "<svg"), "one chart: one charted metric")
	require.NotContains(t, page, "<?xml", "SVG prologs are stripped when inlined")
	require.NotContains(t, page, "http://www.w3.org/1999/xhtml\"", "no external resources")
	for _, bad := range []string{"<link ", "src=\"http", "href=\"http"} {
		require.NotContains(t, page, bad, "the page must not load anything")
	}
	require.Contains(t, page, "Throughput &lt;one stream&gt;", "text is escaped")
	require.Contains(t, page, "desc &amp; more")
	require.Equal(t, 1, strings.Count(page, "</script>"), "the error text cannot close the JSON script early")
	i := strings.Index(page, `id="report-json">`)
	require.Positive(t, i)
	j := strings.Index(page[i:], "</script>")
	var embedded harness.Report
	require.NoError(t, json.Unmarshal([]byte(page[i+len(`id="report-json">`):i+j]), &embedded))
	require.Equal(t, "throughput", embedded.Scenarios[0].Name)
}

func TestChartSVGIsWellFormed(t *testing.T) {
	rep := sampleReport()
	s := &rep.Scenarios[0]
	svg, err := ChartSVG(s, s.Metrics[0])
	require.NoError(t, err)
	requireWellFormedXML(t, svg)
	require.NotContains(t, string(svg), "log scale")

	// A spread of more than logScaleSpread switches to a log axis.
	s.Rows[1].Values["mb_per_s"] = harness.Value{Summary: stats.Summary{Median: 1, Min: 1, Max: 1, N: 1}, Samples: []float64{1}}
	svg, err = ChartSVG(s, s.Metrics[0])
	require.NoError(t, err)
	requireWellFormedXML(t, svg)
	require.Contains(t, string(svg), "log scale")
}

func TestChartSVGWithoutValues(t *testing.T) {
	rep := sampleReport()
	s := &rep.Scenarios[0]
	for i := range s.Rows {
		s.Rows[i].Values = map[string]harness.Value{}
	}
	svg, err := ChartSVG(s, s.Metrics[0])
	require.NoError(t, err)
	requireWellFormedXML(t, svg)
}

func requireWellFormedXML(t *testing.T, b []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			return
		}
		require.NoError(t, err)
	}
}

func TestNumber(t *testing.T) {
	for in, want := range map[float64]string{
		2520.4: "2520", 99.94: "99.9", 3.14159: "3.14", 0.98765: "0.988", 0: "0", -12.34: "-12.3",
	} {
		require.Equal(t, want, Number(in), "%v", in)
	}
}

func TestDisturbedRunsAreFlagged(t *testing.T) {
	rep := sampleReport()
	busy, calm := 0.4, 0.01
	rep.Host.OtherCPU = &busy
	rep.Scenarios[0].OtherCPU = &calm
	var text, page bytes.Buffer
	require.NoError(t, WriteText(&text, rep))
	require.NoError(t, WriteHTML(&page, rep))
	require.Contains(t, text.String(), "WARNING: other processes used 40% of the CPU")
	require.Contains(t, text.String(), "other processes used 1% of the CPU")
	require.Equal(t, 1, strings.Count(page.String(), `class="warn"`))
}
