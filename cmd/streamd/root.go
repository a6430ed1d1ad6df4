package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envPrefix prefixes the environment variable of every flag: --data-dir is
// also STREAMD_DATA_DIR.
const envPrefix = "STREAMD_"

// globals are the flags every command has.
type globals struct {
	logLevel string
	stdout   io.Writer
	stderr   io.Writer
	log      *slog.Logger
}

// newRootCommand builds the command tree writing to stdout and stderr.
func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "streamd",
		Short: "Stream files and data over one multiplexed WebSocket connection",
		Long: `streamd moves files and data between programs over one WebSocket connection
carrying many flow-controlled streams.

Run "streamd serve" to serve ./streamd-data on ws://127.0.0.1:8080/streamd, then
"streamd upload FILE", "streamd download NAME" and "streamd ls" against it.
Every flag can also be set as an environment variable STREAMD_<FLAG>, e.g.
STREAMD_DATA_DIR or STREAMD_SERVER.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags()); err != nil {
				return err
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error", g.logLevel)
			}
			g.log = slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level}))
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.AddCommand(newServeCommand(g), newUploadCommand(g), newDownloadCommand(g), newListCommand(g), newTailCommand(g), newExportCommand(g), newBenchCommand(g))
	documentEnv(root)
	return root
}

// envName returns the environment variable of a flag.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its environment
// variable, if that is set.
func applyEnv(flags *pflag.FlagSet) error {
	var err error
	flags.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if serr := flags.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, serr)
			}
		}
	})
	return err
}

// documentEnv adds "(env STREAMD_…)" to the usage of every flag.
func documentEnv(cmd *cobra.Command) {
	add := func(f *pflag.Flag) {
		if f.Name != "help" && !strings.Contains(f.Usage, envPrefix) {
			f.Usage += " (env " + envName(f.Name) + ")"
		}
	}
	cmd.LocalNonPersistentFlags().VisitAll(add)
	cmd.PersistentFlags().VisitAll(add)
	for _, c := range cmd.Commands() {
		documentEnv(c)
	}
}

// parseCompression maps --compress to stream.Config.Compression: "none", one
// algorithm, or a comma-separated preference list ("zstd,gzip").
func parseCompression(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch name {
		case "zstd", "gzip":
			out = append(out, name)
		case "none":
			if len(strings.Split(s, ",")) > 1 {
				return nil, fmt.Errorf("--compress %q: none cannot be combined", s)
			}
			return []string{"none"}, nil
		default:
			return nil, fmt.Errorf("--compress %q: want zstd, gzip, none or a list like zstd,gzip", s)
		}
	}
	return out, nil
}
