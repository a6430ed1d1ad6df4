// Package stats holds the small statistics the benchmark harness reports:
// median/min/max summaries of repeated runs, latency percentiles and Jain's
// fairness index.
//
// Every function is pure: it never modifies its input slice and is safe to
// call from any goroutine.
package stats
