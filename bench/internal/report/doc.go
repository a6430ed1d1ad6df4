// Package report renders a harness.Report: a plain-text table for the
// terminal, indented JSON, and a self-contained HTML page whose charts are
// SVG drawn with gonum/plot and inlined, so the page needs no network to be
// viewed.
//
// Concurrency: the functions keep no state; they may be called from any
// goroutine as long as the Report is not modified meanwhile.
package report
