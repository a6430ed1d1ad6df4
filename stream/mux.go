package stream

import (
	"context"
	"fmt"
	"sync"
)

// StreamHandler serves a stream the peer opened. The stream is in state opening:
// the handler may inspect Metadata and call Accept with reply metadata; Read and
// Write accept implicitly. Returning nil finishes the stream (Close); an error
// fails it and is reported to the peer with the error's code (see WithCode).
type StreamHandler func(ctx context.Context, st *Stream) error

// RequestHandler answers a request. A returned error is sent to the requester
// with its code (see WithCode; default INTERNAL_ERROR).
type RequestHandler func(ctx context.Context, sess *Session, data []byte) ([]byte, error)

// EventHandler receives an event. Events of one session are delivered in order,
// one at a time; the data is only valid during the call.
type EventHandler func(sess *Session, data []byte)

type routeKey struct {
	route string
	kind  Kind
}

// Mux routes streams by route and kind, and requests and events by name. It is
// safe for concurrent use; handlers may be added while sessions run.
type Mux struct {
	mu       sync.RWMutex
	streams  map[routeKey]StreamHandler
	requests map[string]RequestHandler
	events   map[string]EventHandler
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	return &Mux{
		streams:  make(map[routeKey]StreamHandler),
		requests: make(map[string]RequestHandler),
		events:   make(map[string]EventHandler),
	}
}

// Handle registers h for streams of kind opened on route. A route ending in
// "/" also serves every route below it that has no handler of its own (the
// longest such prefix wins). It panics on an invalid or duplicate
// registration, like http.ServeMux.
func (m *Mux) Handle(route string, kind Kind, h StreamHandler) {
	if route == "" || len(route) > 255 || !kind.Valid() || h == nil {
		panic(fmt.Sprintf("stream: invalid handler registration %q/%v", route, kind))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := routeKey{route, kind}
	if _, dup := m.streams[k]; dup {
		panic(fmt.Sprintf("stream: duplicate handler for %q/%v", route, kind))
	}
	m.streams[k] = h
}

// HandleRequest registers h for requests named name.
func (m *Mux) HandleRequest(name string, h RequestHandler) {
	if name == "" || len(name) > 255 || h == nil {
		panic(fmt.Sprintf("stream: invalid request handler %q", name))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[name] = h
}

// HandleEvent registers h for events named name.
func (m *Mux) HandleEvent(name string, h EventHandler) {
	if name == "" || len(name) > 255 || h == nil {
		panic(fmt.Sprintf("stream: invalid event handler %q", name))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events[name] = h
}

func (m *Mux) streamHandler(route string, kind Kind) StreamHandler {
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if h := m.streams[routeKey{route, kind}]; h != nil {
		return h
	}
	// A route registered with a trailing slash serves every route under it
	// (longest prefix wins), like http.ServeMux: "topic/" serves "topic/logs".
	for i := len(route) - 1; i > 0; i-- {
		if route[i] == '/' {
			if h := m.streams[routeKey{route[:i+1], kind}]; h != nil {
				return h
			}
		}
	}
	return nil
}

func (m *Mux) requestHandler(name string) RequestHandler {
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.requests[name]
}

func (m *Mux) eventHandler(name string) EventHandler {
	if m == nil {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.events[name]
}
