//go:build !race

package websocket_test

// raceEnabled is true when tests run with -race (sync.Pool drops items at random then).
const raceEnabled = false
