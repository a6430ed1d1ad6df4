package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"
)

// The fanout scenario's baseline: what one would write by hand to send the
// same lines to N WebSocket clients — a queue per connection fed by the
// publisher and one writer goroutine per connection sending a message per
// line. (A shared ring that writers follow under a mutex, woken by a
// sync.Cond, was tried first and is worse: every publish wakes every idle
// writer, and at 100 subscribers the median one received nothing in a
// 200 ms window while the publisher managed 70,000 lines/s.)

// lineQueues hold, for each connection, the lines its writer has not sent:
// a buffered channel per connection, as in gorilla/websocket's chat example.
// Publishing copies the line once and offers it to every queue without
// waiting; a full queue drops it (and counts it). A published line is never
// modified, so every writer sends the same copy.
type lineQueues struct {
	queues  []chan []byte
	subs    []subCounter
	writers atomic.Int64 // writers running
}

func newLineQueues(subs []subCounter, depth int) *lineQueues {
	q := &lineQueues{queues: make([]chan []byte, len(subs)), subs: subs}
	for i := range q.queues {
		q.queues[i] = make(chan []byte, depth)
	}
	return q
}

// publish offers a copy of line to every queue.
func (q *lineQueues) publish(line []byte) error {
	line = append([]byte(nil), line...)
	for i, ch := range q.queues {
		select {
		case ch <- line:
		default:
			q.subs[i].dropped.Add(1)
		}
	}
	return nil
}

// follow sends the lines of queue i to conn, one binary message per line,
// until the queue is closed or a write fails.
func (q *lineQueues) follow(i int, conn *websocket.Conn) error {
	q.writers.Add(1)
	for line := range q.queues[i] {
		if err := conn.WriteMessage(websocket.BinaryMessage, line); err != nil {
			return err
		}
	}
	return nil
}

// following returns the number of writers running.
func (q *lineQueues) following() int { return int(q.writers.Load()) }

// close ends every writer once it has sent its queue; nothing may publish
// any more.
func (q *lineQueues) close() {
	for _, ch := range q.queues {
		close(ch)
	}
}

// wsFanout is the baseline: N raw WebSocket connections fed from lineQueues.
type wsFanout struct {
	*subFailure
	queues    *lineQueues
	http      *http.Server
	serveDone chan struct{}
	handlers  sync.WaitGroup // server handlers, each running one writer
	readers   sync.WaitGroup

	mu    sync.Mutex
	conns []*websocket.Conn // both ends of every connection
}

func (f *wsFanout) track(c *websocket.Conn) {
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
}

func startWSFanout(ctx context.Context, subs []subCounter, lineSize int) (_ fanoutSystem, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	f := &wsFanout{
		subFailure: newSubFailure(),
		queues:     newLineQueues(subs, fanoutQueueLines(lineSize)),
		serveDone:  make(chan struct{}),
	}
	up := &websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	f.http = &http.Server{
		ReadHeaderTimeout: setupTimeout,
		ErrorLog:          log.New(io.Discard, "", 0),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			f.handlers.Add(1)
			defer f.handlers.Done()
			i, err := strconv.Atoi(req.URL.Query().Get("sub"))
			if err != nil || i < 0 || i >= len(subs) {
				http.Error(w, "bad subscriber", http.StatusBadRequest)
				return
			}
			c, err := up.Upgrade(w, req, nil)
			if err != nil {
				return // Upgrade has answered the client
			}
			f.track(c)
			if err := f.queues.follow(i, c); err != nil {
				f.fail(fmt.Errorf("subscriber %d: server write: %w", i, err))
			}
			_ = c.Close()
		}),
	}
	go func() {
		defer close(f.serveDone)
		_ = f.http.Serve(ln)
	}()
	defer func() {
		if err != nil {
			_ = f.close()
		}
	}()
	url := "ws://" + ln.Addr().String() + "/fanout?sub="
	dialer := &websocket.Dialer{HandshakeTimeout: setupTimeout}
	err = forEachParallel(len(subs), fanoutDialers, func(i int) error {
		c, _, err := dialer.DialContext(ctx, url+strconv.Itoa(i), nil)
		if err != nil {
			return fmt.Errorf("subscriber %d: dial: %w", i, err)
		}
		f.track(c)
		f.readers.Add(1)
		go func() {
			defer f.readers.Done()
			buf := make([]byte, lineSize)
			for {
				_, r, err := c.NextReader()
				if err == nil {
					_, err = io.CopyBuffer(io.Discard, r, buf)
				}
				if err != nil {
					f.fail(fmt.Errorf("subscriber %d: read: %w", i, err))
					return
				}
				subs[i].delivered.Add(1)
			}
		}()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := waitFor(ctx, func() bool { return f.queues.following() == len(subs) }); err != nil {
		return nil, fmt.Errorf("%d of %d writers started: %w", f.queues.following(), len(subs), err)
	}
	return f, nil
}

func (f *wsFanout) publish(line []byte) error { return f.queues.publish(line) }

func (f *wsFanout) close() error {
	f.stopping.Store(true)
	f.queues.close()
	f.mu.Lock()
	for _, c := range f.conns {
		_ = c.Close() // unblocks writers stuck in a write and every reader
	}
	f.mu.Unlock()
	var errs []error
	if !waitTimeout(&f.handlers, stopTimeout) {
		errs = append(errs, fmt.Errorf("writers did not stop within %v", stopTimeout))
	}
	if !waitTimeout(&f.readers, stopTimeout) {
		errs = append(errs, fmt.Errorf("subscribers did not stop within %v", stopTimeout))
	}
	errs = append(errs, f.http.Close())
	<-f.serveDone
	return errors.Join(errs...)
}
