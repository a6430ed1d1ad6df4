// Package contenders holds the implementations the benchmark compares:
// raw TCP, raw gorilla/websocket, hashicorp/yamux and xtaci/smux over TCP
// (stream and session contenders), and the per-message compression codecs.
//
// Adding one is one file: implement harness.Contender (for a multiplexer
// whose streams are io.ReadWriteClosers, write a harness.MuxConnectFunc and
// wrap it with harness.NewMuxContender), harness.SessionContender or
// harness.Codec, and register it from that file's init() with
// RegisterStream, RegisterSession or RegisterCodec. Default lists the
// built-in contenders first, then the registered ones in init order.
//
// Concurrency: constructors and Default are safe to call from any
// goroutine once package initialisation is over. Links and session servers
// follow the contracts of package harness. A Codec is used by one goroutine
// at a time (it keeps encoder state between calls).
package contenders
