// Package harness runs the streamd benchmark scenarios: it sets up every
// contender side by side in one process run, repeats each measurement,
// summarises the repeats (median/min/max, ratio to the scenario's baseline)
// and returns a Report that package report renders as a table, JSON or HTML.
//
// Contenders plug in through small interfaces:
//   - Contender: anything that can carry byte streams between a client and a
//     server end (raw TCP, raw WebSocket, a multiplexer over TCP, a streamd
//     session). A multiplexer whose streams are io.ReadWriteClosers fits with
//     NewMuxContender and a MuxConnectFunc. One over UDP (QUIC) also
//     implements PacketContender and uses the Env's packet path.
//   - SessionContender: anything with an idle server-side session whose
//     memory and handshake rate the "sessions" scenario measures.
//   - Codec: a compression algorithm at one level, for the "compression"
//     scenario.
//
// Concurrency: Run drives scenarios one at a time from the calling
// goroutine; each measurement starts its own goroutines and waits for all of
// them before returning, so nothing outlives Run. A contender's Connect, a
// Link's OpenPair and Close are called from one goroutine at a time; the
// io.ReadWriteClosers a Link returns are each written by one goroutine and
// read by one (possibly different) goroutine at a time.
package harness
