//go:build race

package dataset

// raceEnabled is true when tests run with -race, which slows the pure-Go
// SQLite driver about tenfold; heavy tests shrink their sizes.
const raceEnabled = true
