package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/bench/internal/contenders"
	"github.com/streamd/streamd/bench/internal/harness"
	"github.com/streamd/streamd/bench/internal/netem"
)

// TestMain lets the sessions scenario re-execute this test binary as its
// dialing child.
func TestMain(m *testing.M) {
	if isChild, code := harness.RunChild(contenders.Default().Sessions); isChild {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestTinyRunIsCompleteAndValid runs every scenario with the tiny profile
// through the command line, then checks the JSON is valid and complete and
// the HTML has a chart per charted metric. It asserts nothing about speed.
func TestTinyRunIsCompleteAndValid(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	jsonPath, htmlPath := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	all := contenders.Default()
	err := run(ctx, []string{"--profile", "tiny", "--json", jsonPath, "--html", htmlPath}, all, &stdout, &stderr)
	require.NoError(t, err, "stderr:\n%s", stderr.String())

	raw, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var rep harness.Report
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&rep), "the JSON must match the documented schema")
	require.Equal(t, harness.SchemaVersion, rep.Schema)
	require.Equal(t, "tiny", rep.Profile.Name)
	require.Positive(t, rep.Host.CPUs)

	p := harness.TinyProfile()
	wantCases := map[string][]string{
		"throughput":  {"4KiB up", "4KiB down", "64KiB up", "64KiB down"},
		"concurrency": {"1 stream", "4 streams"},
		"hol":         {"unloaded", "under bulk"},
		"longfat":     {"1 stream up", "1 stream down"},
		"compression": {"json-lines", "random"},
		"sessions":    {"20 sessions"},
		"dataset":     {"rows", "batched", "columnar"},
		"fanout":      {"1 subscriber", "3 subscribers"},
		"lossy":       nil, // skipped where the machine cannot emulate a packet-level link
	}
	if netem.Available() == nil {
		wantCases["lossy"] = []string{"1% loss"}
	}
	var names, tcpNames, lossyNames []string
	for _, c := range all.Streams {
		names = append(names, c.Name())
		_, udp := c.(harness.PacketContender)
		if !udp {
			tcpNames = append(tcpNames, c.Name()) // longfat's TCP proxy carries no UDP
		}
		if udp || slices.Contains([]string{"tcp", "websocket", "streamd"}, c.Name()) {
			lossyNames = append(lossyNames, c.Name())
		}
	}
	var sessionNames []string
	for _, c := range all.Sessions {
		sessionNames = append(sessionNames, c.Name())
	}
	var codecNames []string
	for _, c := range all.Codecs {
		codecNames = append(codecNames, c.Name())
	}
	wantContenders := map[string][]string{
		"throughput": names, "concurrency": names, "hol": names, "longfat": tcpNames,
		"compression": codecNames, "sessions": sessionNames, "lossy": lossyNames,
	}

	// dataset and fanout measure streamd's services against baselines of
	// their own; arrow-ipc is a reference in the columnar case only.
	wantContenders["dataset"] = []string{"tcp", "streamd"}
	wantContenders["fanout"] = []string{"websocket", "streamd"}

	require.Equal(t, harness.ScenarioNames(), scenarioNames(rep))
	for _, s := range rep.Scenarios {
		if s.Name == "dataset" {
			row, ok := s.Row("columnar", "arrow-ipc")
			require.True(t, ok, "dataset: columnar/arrow-ipc")
			require.Empty(t, row.Error)
			require.Positive(t, row.Values["rows_per_s"].Median, "every export moved all its rows")
		}
	}
	html, err := os.ReadFile(htmlPath)
	require.NoError(t, err)
	charts := 0
	for _, s := range rep.Scenarios {
		require.Equal(t, wantCases[s.Name], s.Cases, s.Name)
		require.NotEmpty(t, s.Description, s.Name)
		primary, ok := s.Metric(s.Primary)
		require.True(t, ok, "%s: primary metric %q is described", s.Name, s.Primary)
		for _, cs := range s.Cases {
			for _, ct := range wantContenders[s.Name] {
				row, ok := s.Row(cs, ct)
				require.True(t, ok, "%s: row %s/%s", s.Name, cs, ct)
				require.Empty(t, row.Error, "%s: %s/%s failed", s.Name, cs, ct)
				v, ok := row.Values[primary.Key]
				require.True(t, ok, "%s: %s/%s has no %s", s.Name, cs, ct, primary.Key)
				require.Len(t, v.Samples, p.Repeat)
				require.LessOrEqual(t, v.Min, v.Median)
				require.LessOrEqual(t, v.Median, v.Max)
				base, ok := s.Row(cs, s.Baseline)
				require.True(t, ok)
				// A tiny window can be starved on a busy machine; only a zero
				// baseline leaves the ratio undefined.
				if base.Values[primary.Key].Median != 0 {
					require.NotNil(t, v.Ratio, "%s: %s/%s has a ratio to %s", s.Name, cs, ct, s.Baseline)
					require.InDelta(t, v.Median/base.Values[primary.Key].Median, *v.Ratio, 1e-9)
				}
			}
		}
		for _, m := range s.Metrics {
			if m.Chart && len(s.Cases) > 0 { // a skipped scenario has no charts
				charts++
			}
		}
		require.Contains(t, string(html), `id="`+s.Name+`"`)
	}
	require.Equal(t, charts, strings.Count(string(html), "<svg"), "one inline SVG per charted metric")
	require.Contains(t, string(html), `<script type="application/json" id="report-json">`)

	for _, s := range rep.Scenarios {
		require.Contains(t, stdout.String(), "("+s.Name+")", "the terminal table has every scenario")
	}
	require.Contains(t, stderr.String(), "rep 1/1", "progress lines go to stderr")

	// Throughput must really have moved bytes (any one short window may be
	// starved on a busy machine, all of them cannot), and HOL must have pinged.
	var moved float64
	for _, r := range rep.Scenarios[0].Rows {
		moved += r.Values["mb_per_s"].Median
	}
	require.Positive(t, moved)
	hol := rep.Scenarios[2]
	for _, r := range hol.Rows {
		require.Positive(t, r.Values["pings"].Median, "%s/%s", r.Case, r.Contender)
	}

	require.Eventually(t, func() bool { return runtime.NumGoroutine() <= before+2 }, 10*time.Second, 20*time.Millisecond,
		"goroutines left behind: %d before, %d after", before, runtime.NumGoroutine())
}

func scenarioNames(rep harness.Report) []string {
	var out []string
	for _, s := range rep.Scenarios {
		out = append(out, s.Name)
	}
	return out
}

func TestFlagsAndFilters(t *testing.T) {
	ctx := context.Background()
	all := contenders.Default()
	var out, errOut bytes.Buffer

	err := run(ctx, []string{"--profile", "tiny", "--scenario", "nope"}, all, &out, &errOut)
	require.ErrorIs(t, err, harness.ErrUnknownScenario)

	err = run(ctx, []string{"--profile", "huge"}, all, &out, &errOut)
	require.ErrorIs(t, err, harness.ErrInvalidProfile)

	err = run(ctx, []string{"--profile", "tiny", "--repeat", "-1"}, all, &out, &errOut)
	require.ErrorIs(t, err, harness.ErrInvalidProfile)

	err = run(ctx, []string{"--profile", "tiny", "--baseline", "carrier-pigeon", "--scenario", "throughput"}, all, &out, &errOut)
	require.ErrorIs(t, err, harness.ErrNoContenders)

	err = run(ctx, []string{"stray"}, all, &out, &errOut)
	require.Error(t, err)

	// One scenario, one contender besides the baseline.
	out.Reset()
	dir := t.TempDir()
	jsonPath := filepath.Join(dir, "c.json")
	err = run(ctx, []string{"--profile", "tiny", "--quiet", "--scenario", "compression", "--contender", "zstd-fastest", "--json", jsonPath}, all, &out, &errOut)
	require.NoError(t, err)
	raw, err := os.ReadFile(jsonPath)
	require.NoError(t, err)
	var rep harness.Report
	require.NoError(t, json.Unmarshal(raw, &rep))
	require.Len(t, rep.Scenarios, 1)
	var got []string
	for _, c := range rep.Scenarios[0].Contenders {
		got = append(got, c.Name)
	}
	require.Equal(t, []string{"none", "zstd-fastest"}, got, "the baseline is always kept")
}

func TestFilterContendersKeepsBaselines(t *testing.T) {
	all := contenders.Default()
	f := filterContenders(all, []string{"yamux"})
	require.Len(t, f.Streams, 2)
	require.Equal(t, "tcp", f.Streams[0].Name())
	require.Equal(t, "yamux", f.Streams[1].Name())
	require.Len(t, f.Sessions, 2) // websocket (baseline) and yamux
	require.Len(t, f.Codecs, 1)   // none
}
