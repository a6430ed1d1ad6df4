//go:build !race

package dataset

// raceEnabled is true when tests run with -race.
const raceEnabled = false
