// Package transporttest holds what the tests of every transport.Conn implementation share:
// the conformance suite (Run), the checks of a network transport's server (RunOriginPolicy,
// RequireReadLimit, RequireWriteTimeoutCloses, Upgrades), helpers for concurrent tests
// (CheckGoroutines, GoAsync, Progress, Payload) and the bodies of the throughput benchmarks
// (Bench, BenchConns, BenchStream, BenchDirections).
//
// It is a normal package so that the tests of transport, transport/websocket and
// transport/webtransport can import it, but only tests may import it: it depends on
// testing and testify/require and fails tests instead of returning errors.
//
// Concurrency: the helpers are safe to use from the goroutines a test starts, in the way
// each one documents (Async and Progress are shared between the test and one goroutine).
package transporttest
