// Command bench measures streamd against what people would use instead —
// raw TCP, raw WebSocket, hashicorp/yamux, xtaci/smux — side by side in one
// process run, and reports medians, ranges and ratios to a baseline as a
// terminal table, JSON and a self-contained HTML page with charts.
//
// Usage:
//
//	go run . [--quick] [--repeat N] [--scenario NAME[,NAME…]] [--json FILE] [--html FILE]
//
// See README.md for the scenarios and the JSON schema.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/streamd/streamd/bench/internal/contenders"
	"github.com/streamd/streamd/bench/internal/harness"
	"github.com/streamd/streamd/bench/internal/report"
)

func main() {
	all := contenders.Default()
	if isChild, code := harness.RunChild(all.Sessions); isChild {
		os.Exit(code)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], all, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run parses args, runs the benchmark and writes the requested outputs.
func run(ctx context.Context, args []string, all harness.Contenders, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "CI smoke sizing: 2 repeats, short windows, 1,000 sessions (< 2 min on 2 cores); same as --profile quick")
	profileName := fs.String("profile", "full", "sizing: full, quick, or tiny (seconds; for tests, numbers mean little)")
	repeat := fs.Int("repeat", 0, "repeats per measurement (default 5, or 2 with --quick)")
	scenario := fs.String("scenario", "", "comma-separated scenarios to run (default all): "+strings.Join(harness.ScenarioNames(), ", "))
	baseline := fs.String("baseline", all.Baseline, "stream contender that ratios are computed against")
	only := fs.String("contender", "", "comma-separated contenders to run (default all; baselines are always kept)")
	jsonPath := fs.String("json", "", "write the report as JSON to `FILE`")
	htmlPath := fs.String("html", "", "write a self-contained HTML report with charts to `FILE`")
	quiet := fs.Bool("quiet", false, "do not print per-measurement progress on stderr")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: bench [flags]\n\nRuns the streamd benchmark scenarios side by side with their baselines.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	if *quick {
		*profileName = "quick"
	}
	var profile harness.Profile
	switch *profileName {
	case "full":
		profile = harness.FullProfile()
	case "quick":
		profile = harness.QuickProfile()
	case "tiny":
		profile = harness.TinyProfile()
	default:
		return fmt.Errorf("%w: unknown profile %q (want full, quick or tiny)", harness.ErrInvalidProfile, *profileName)
	}
	if *repeat != 0 {
		profile.Repeat = *repeat // Run validates it
	}
	all.Baseline = *baseline
	if *only != "" {
		all = filterContenders(all, splitList(*only))
	}
	opts := harness.Options{Profile: profile}
	opts.Scenarios = splitList(*scenario)
	if !*quiet {
		opts.Progress = stderr
	}

	rep, err := harness.Run(ctx, all, opts)
	if err != nil {
		return err
	}
	if err := report.WriteText(stdout, rep); err != nil {
		return err
	}
	if *jsonPath != "" {
		if err := writeFile(*jsonPath, func(w io.Writer) error { return report.WriteJSON(w, rep) }); err != nil {
			return err
		}
	}
	if *htmlPath != "" {
		if err := writeFile(*htmlPath, func(w io.Writer) error { return report.WriteHTML(w, rep) }); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// filterContenders keeps the named contenders of every kind, plus each
// kind's baseline so that ratios stay defined.
func filterContenders(all harness.Contenders, names []string) harness.Contenders {
	keep := func(name, baseline string) bool { return name == baseline || slices.Contains(names, name) }
	out := all
	out.Streams, out.Sessions, out.Codecs = nil, nil, nil
	for _, c := range all.Streams {
		if keep(c.Name(), all.Baseline) {
			out.Streams = append(out.Streams, c)
		}
	}
	for _, c := range all.Sessions {
		if keep(c.Name(), all.SessionBaseline) {
			out.Sessions = append(out.Sessions, c)
		}
	}
	for _, c := range all.Codecs {
		if keep(c.Name(), all.CodecBaseline) {
			out.Codecs = append(out.Codecs, c)
		}
	}
	return out
}
