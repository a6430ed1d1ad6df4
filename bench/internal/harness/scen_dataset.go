package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"

	"github.com/streamd/streamd/dataset"
	"github.com/streamd/streamd/stream"
)

var (
	metricRowsPerS = Metric{Key: "rows_per_s", Label: "rows", Unit: "rows/s", HigherIsBetter: true, Chart: true}
	metricDataMBps = Metric{Key: "mb_per_s", Label: "data", Unit: "MB/s", HigherIsBetter: true}
	metricFirstMs  = Metric{Key: "first_batch_ms", Label: "first batch", Unit: "ms", HigherIsBetter: false, Chart: true}
)

// Contenders of the dataset scenario.
const (
	datasetTCP      = "tcp"
	datasetStreamd  = "streamd"
	datasetArrowIPC = "arrow-ipc"
)

// datasetCases are the layouts, by their case names.
var datasetCases = []struct {
	name   string
	layout dataset.Layout
}{
	{"rows", dataset.LayoutRows},
	{"batched", dataset.LayoutBatched},
	{"columnar", dataset.LayoutArrow},
}

// datasetName is the synthetic dataset's name in the streamd catalog.
const datasetName = "synthetic"

// datasetTimeout bounds one export, connection to teardown.
const datasetTimeout = 2 * time.Minute

// datasetIOBuffer is the buffer on each end of a raw TCP baseline: the
// writer does not make one syscall per length prefix, nor the reader.
const datasetIOBuffer = 64 << 10

func runDataset(ctx context.Context, r *runner) (*ScenarioResult, error) {
	p := r.profile
	tmpl, err := newDatasetTemplates()
	if err != nil {
		return nil, err
	}
	defer tmpl.Release()
	res := &ScenarioResult{
		Description: fmt.Sprintf("An export of %d rows of a synthetic table with one column of each type (int64, "+
			"string, float64, bool, timestamp, date, decimal, binary; about 1 in 15 values null) in each layout: "+
			"rows (one JSON row per message), batched (row-batched binary) and columnar (Arrow IPC), "+
			"%d rows per batch. rows/s and data MB/s (the layout's bytes, length prefixes included) run from "+
			"opening the export to its last batch decoded on the client; first batch is the time to the first "+
			"decoded batch (in the rows layout the client gathers rows into batches of that size). The rows "+
			"come from %d distinct batches generated in memory before the run and repeated, so reading them "+
			"costs nothing.", p.DatasetRows, datasetBatchRows, datasetTemplateBatches),
		Baseline: datasetTCP,
		Primary:  metricRowsPerS.Key,
		Metrics:  []Metric{metricRowsPerS, metricDataMBps, metricFirstMs},
		Contenders: []ContenderInfo{
			{Name: datasetTCP, Description: "the same layout's messages, length-prefixed, written with the dataset " +
				"package's Producer straight onto a raw loopback TCP connection and decoded with its Consumer " +
				"(dataset.SendFramed / ReceiveFramed, 64 KiB buffers): the export without the session layer"},
			{Name: datasetStreamd, Description: "dataset.OpenExport of a Catalog dataset over a streamd session on a " +
				"loopback WebSocket (default config, no compression), opened on an established session"},
			{Name: datasetArrowIPC, Description: "columnar only: arrow-go's own ipc.Writer straight onto a raw TCP " +
				"connection and ipc.Reader on the other side, no dataset package at all (64 KiB buffers)"},
		},
		Notes: []string{
			"Both ends run in this process and share its cores. The raw TCP baselines start timing at the dial; " +
				"streamd at OpenExport on a session dialled beforehand (a new session per measurement).",
		},
	}
	col := newCollector()
	for rep := 1; rep <= p.Repeat; rep++ {
		for _, dc := range datasetCases {
			contenders := []string{datasetTCP, datasetStreamd}
			if dc.layout == dataset.LayoutArrow {
				contenders = append(contenders, datasetArrowIPC)
			}
			for _, name := range contenders {
				m, err := datasetOnce(ctx, name, tmpl, dc.layout, int64(p.DatasetRows))
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					col.fail(dc.name, name, err)
					r.logf("dataset %-9s %-10s rep %d/%d: error: %v", dc.name, name, rep, p.Repeat, err)
					continue
				}
				secs := m.elapsed.Seconds()
				col.add(dc.name, name, metricRowsPerS.Key, float64(m.rows)/secs)
				col.add(dc.name, name, metricDataMBps.Key, mbps(float64(m.bytes)/secs))
				col.add(dc.name, name, metricFirstMs.Key, float64(m.first)/float64(time.Millisecond))
				r.logf("dataset %-9s %-10s rep %d/%d: %10.0f rows/s %8.1f MB/s  first batch %7.2f ms",
					dc.name, name, rep, p.Repeat, float64(m.rows)/secs, mbps(float64(m.bytes)/secs),
					float64(m.first)/float64(time.Millisecond))
			}
		}
	}
	return finish(col, res)
}

// datasetResult is one export: rows and bytes received, time from opening
// to the last batch and to the first.
type datasetResult struct {
	rows, bytes    int64
	elapsed, first time.Duration
}

func datasetOnce(ctx context.Context, contender string, tmpl *datasetTemplates, layout dataset.Layout, rows int64) (datasetResult, error) {
	ctx, cancel := context.WithTimeout(ctx, datasetTimeout)
	defer cancel()
	var (
		m   datasetResult
		err error
	)
	switch contender {
	case datasetTCP:
		m, err = datasetTCPOnce(ctx, tmpl, layout, rows)
	case datasetStreamd:
		m, err = datasetStreamdOnce(ctx, tmpl, layout, rows)
	case datasetArrowIPC:
		m, err = datasetArrowOnce(ctx, tmpl, rows)
	default:
		err = fmt.Errorf("%w: no dataset contender %q", ErrNoContenders, contender)
	}
	if err == nil && m.rows != rows {
		err = fmt.Errorf("received %d rows, want %d", m.rows, rows)
	}
	return m, err
}

// countingSink is a dataset.Sink that counts rows and notes when the first
// batch came.
type countingSink struct {
	start time.Time
	first time.Duration
	rows  int64
}

func (s *countingSink) Write(rec arrow.RecordBatch) error {
	if s.first == 0 {
		s.first = time.Since(s.start)
	}
	s.rows += rec.NumRows()
	return nil
}

func (s *countingSink) Close() error { return nil }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// rawTCPServer accepts one connection on a loopback listener and runs send
// on it in a goroutine; wait returns send's error once it has returned.
type rawTCPServer struct {
	ln   net.Listener
	done chan error
}

func startRawTCPServer(send func(w *bufio.Writer) error) (*rawTCPServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &rawTCPServer{ln: ln, done: make(chan error, 1)}
	go func() {
		c, err := ln.Accept()
		_ = ln.Close()
		if err != nil {
			s.done <- fmt.Errorf("accept: %w", err)
			return
		}
		bw := bufio.NewWriterSize(c, datasetIOBuffer)
		err = send(bw)
		if err == nil {
			err = bw.Flush()
		}
		s.done <- errors.Join(err, c.Close())
	}()
	return s, nil
}

// wait closes the listener (in case nobody dialled) and returns the send
// error.
func (s *rawTCPServer) wait() error {
	_ = s.ln.Close()
	if err := <-s.done; err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// rawTCPClient is the reading end of a raw TCP baseline.
type rawTCPClient struct {
	conn    net.Conn
	counter *countingReader // bytes read from conn
	r       *bufio.Reader   // buffered reads through counter
	stop    func() bool
}

// dialRaw dials the server; a cancelled ctx closes the connection, which
// unblocks the reads.
func (s *rawTCPServer) dialRaw(ctx context.Context) (*rawTCPClient, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.ln.Addr().String())
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	cr := &countingReader{r: c}
	return &rawTCPClient{
		conn:    c,
		counter: cr,
		r:       bufio.NewReaderSize(cr, datasetIOBuffer),
		stop:    context.AfterFunc(ctx, func() { _ = c.Close() }),
	}, nil
}

func (c *rawTCPClient) close() {
	c.stop()
	_ = c.conn.Close()
}

// datasetTCPOnce is the baseline: the layout's framed messages on a raw TCP
// connection.
func datasetTCPOnce(ctx context.Context, tmpl *datasetTemplates, layout dataset.Layout, rows int64) (datasetResult, error) {
	srv, err := startRawTCPServer(func(w *bufio.Writer) error {
		p, err := dataset.NewProducer(tmpl.source(rows), dataset.ProducerConfig{Layout: layout})
		if err != nil {
			return err
		}
		defer p.Close()
		_, err = dataset.SendFramed(ctx, w, p)
		return err
	})
	if err != nil {
		return datasetResult{}, err
	}
	start := time.Now()
	c, err := srv.dialRaw(ctx)
	if err != nil {
		return datasetResult{}, errors.Join(err, srv.wait())
	}
	sink := &countingSink{start: start}
	_, _, err = dataset.ReceiveFramed(ctx, c.r, 0, func(dataset.Header) (dataset.Sink, error) { return sink, nil }, dataset.ConsumerConfig{})
	elapsed := time.Since(start)
	c.close()
	if err = errors.Join(err, srv.wait()); err != nil {
		return datasetResult{}, err
	}
	return datasetResult{rows: sink.rows, bytes: c.counter.n.Load(), elapsed: elapsed, first: sink.first}, nil
}

// datasetArrowOnce is the reference for the columnar layout: arrow-go's IPC
// stream writer and reader on a raw TCP connection.
func datasetArrowOnce(ctx context.Context, tmpl *datasetTemplates, rows int64) (datasetResult, error) {
	srv, err := startRawTCPServer(func(bw *bufio.Writer) error {
		src := tmpl.source(rows)
		defer src.Close()
		iw := ipc.NewWriter(bw, ipc.WithSchema(tmpl.schema.Arrow()))
		for {
			rec, err := src.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				_ = iw.Close()
				return err
			}
			err = iw.Write(rec)
			rec.Release()
			if err == nil {
				err = bw.Flush() // each batch leaves as soon as it is encoded
			}
			if err != nil {
				_ = iw.Close()
				return err
			}
		}
		return iw.Close()
	})
	if err != nil {
		return datasetResult{}, err
	}
	start := time.Now()
	c, err := srv.dialRaw(ctx)
	if err != nil {
		return datasetResult{}, errors.Join(err, srv.wait())
	}
	var m datasetResult
	err = func() error {
		rd, err := ipc.NewReader(c.r)
		if err != nil {
			return err
		}
		defer rd.Release()
		if !rd.Schema().Equal(tmpl.schema.Arrow()) {
			return fmt.Errorf("arrow reader: schema %v, want %v", rd.Schema(), tmpl.schema.Arrow())
		}
		for rd.Next() {
			if m.first == 0 {
				m.first = time.Since(start)
			}
			m.rows += rd.RecordBatch().NumRows()
		}
		return rd.Err()
	}()
	m.elapsed = time.Since(start)
	m.bytes = c.counter.n.Load()
	c.close()
	if err = errors.Join(err, srv.wait()); err != nil {
		return datasetResult{}, err
	}
	return m, nil
}

// datasetStreamdOnce exports the dataset from a streamd Catalog over a
// session on loopback WebSocket.
func datasetStreamdOnce(ctx context.Context, tmpl *datasetTemplates, layout dataset.Layout, rows int64) (m datasetResult, err error) {
	catalog, err := dataset.NewCatalog(dataset.CatalogConfig{Logger: discardLogger})
	if err != nil {
		return m, err
	}
	defer func() { err = errors.Join(err, catalog.Close()) }()
	err = catalog.AddFunc(dataset.DatasetInfo{Name: datasetName}, func(_ context.Context, req dataset.OpenRequest) (dataset.Source, error) {
		if req.StartRow != 0 {
			return nil, dataset.ErrNotResumable
		}
		return tmpl.source(rows), nil
	})
	if err != nil {
		return m, err
	}
	mux := stream.NewMux()
	catalog.Register(mux)
	srv, err := startStreamdServer(mux)
	if err != nil {
		return m, err
	}
	sess, err := srv.dial(ctx)
	if err != nil {
		return m, errors.Join(fmt.Errorf("dial: %w", err), srv.close())
	}
	defer func() { err = errors.Join(err, sess.Close(), srv.close()) }()

	start := time.Now()
	rd, err := dataset.OpenExport(ctx, sess, datasetName, dataset.ExportOptions{Layouts: []dataset.Layout{layout}})
	if err != nil {
		return m, fmt.Errorf("open export: %w", err)
	}
	defer rd.Close()
	if got := rd.Header().Layout; got != layout {
		return m, fmt.Errorf("server chose layout %s, want %s", got, layout)
	}
	for {
		rec, err := rd.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, err
		}
		if m.first == 0 {
			m.first = time.Since(start)
		}
		m.rows += rec.NumRows()
		rec.Release()
	}
	m.elapsed = time.Since(start)
	m.bytes = rd.Progress().DataBytes
	return m, nil
}
