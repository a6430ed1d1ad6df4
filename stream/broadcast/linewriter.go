package broadcast

import (
	"bytes"
	"sync"
)

// Publisher appends records to one topic; *Topic implements it.
type Publisher interface {
	Publish(data []byte) (Position, error)
}

// Sink is a topic as a log source sees it: it publishes records and starts a
// new epoch when the source restarts. *Topic implements it; TopicSink adapts
// any Broker.
type Sink interface {
	Publisher
	Restart() (epoch uint64, err error)
}

// TopicSink returns the Sink of one topic of b.
func TopicSink(b Broker, topic string) Sink { return brokerTopic{b, topic} }

type brokerTopic struct {
	b     Broker
	topic string
}

func (p brokerTopic) Publish(data []byte) (Position, error) { return p.b.Publish(p.topic, data) }
func (p brokerTopic) Restart() (uint64, error)              { return p.b.Restart(p.topic) }

// LineWriter is an io.Writer that publishes each line written to it as one
// record, without its "\n" (and without a "\r" before it). A partial line
// waits for the rest (or Flush); a line longer than the maximum is published
// in pieces of the maximum size. Like Publish, Write never waits for
// subscribers.
//
// LineWriter is safe for concurrent use; concurrent Writes publish whole lines
// but interleave where a Write carries partial lines.
type LineWriter struct {
	pub     Publisher
	maxLine int

	mu      sync.Mutex
	partial []byte
}

// NewLineWriter returns a LineWriter publishing to pub; maxLine bounds a
// record (0: DefaultMaxRecord; it should not exceed the topic's MaxRecord).
func NewLineWriter(pub Publisher, maxLine int) *LineWriter {
	if maxLine <= 0 {
		maxLine = DefaultMaxRecord
	}
	if t, ok := pub.(*Topic); ok {
		maxLine = min(maxLine, t.cfg.MaxRecord)
	}
	return &LineWriter{pub: pub, maxLine: maxLine}
}

// Write publishes every complete line in p. It returns len(p) unless Publish
// fails (the topic closed).
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			if err := w.splitLocked(); err != nil {
				return n - len(p), err
			}
			return n, nil
		}
		line := p[:i]
		if len(w.partial) > 0 {
			w.partial = append(w.partial, line...)
			line = w.partial
		}
		if err := w.publishLocked(trimCR(line)); err != nil {
			return n - len(p), err
		}
		w.partial = w.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// splitLocked publishes maxLine pieces of an over-long partial line.
func (w *LineWriter) splitLocked() error {
	for len(w.partial) > w.maxLine {
		if _, err := w.pub.Publish(w.partial[:w.maxLine]); err != nil {
			return err
		}
		w.partial = append(w.partial[:0], w.partial[w.maxLine:]...)
	}
	if cap(w.partial) > 4*w.maxLine && len(w.partial) < w.maxLine {
		w.partial = append([]byte(nil), w.partial...)
	}
	return nil
}

func (w *LineWriter) publishLocked(line []byte) error {
	for len(line) > w.maxLine {
		if _, err := w.pub.Publish(line[:w.maxLine]); err != nil {
			return err
		}
		line = line[w.maxLine:]
	}
	_, err := w.pub.Publish(line)
	return err
}

// Flush publishes a pending partial line, if any.
func (w *LineWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) == 0 {
		return nil
	}
	err := w.publishLocked(trimCR(w.partial))
	w.partial = w.partial[:0]
	return err
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}
