// Package metrics exports a stream.Server's counters in Prometheus format.
//
// The collector reads Server.Stats on each scrape, so the hot paths of the
// session pay nothing for metrics beyond the atomic counters they keep anyway.
//
// Concurrency: a Collector is safe for concurrent scrapes.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamd/streamd/stream"
)

// Collector is a prometheus.Collector over one stream.Server.
type Collector struct {
	srv *stream.Server

	sessions, sessionsTotal, streams, streamsOpened *prometheus.Desc
	transportBytes, transportMessages, dataBytes    *prometheus.Desc
	compressionBytes, creditStalls, windowBytes     *prometheus.Desc
	controlQueue, resumes, disconnects, resent      *prometheus.Desc
}

// NewCollector returns a collector for srv.
func NewCollector(srv *stream.Server) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("streamd_"+name, help, labels, nil)
	}
	return &Collector{
		srv:               srv,
		sessions:          d("sessions", "Live sessions."),
		sessionsTotal:     d("sessions_total", "Sessions that completed a handshake."),
		streams:           d("streams", "Live streams by kind and state.", "kind", "state"),
		streamsOpened:     d("streams_opened_total", "Streams opened by either side."),
		transportBytes:    d("transport_bytes_total", "Transport message bytes.", "direction"),
		transportMessages: d("transport_messages_total", "Transport messages (batches of frames).", "direction"),
		dataBytes:         d("data_bytes_total", "Stream data bytes as applications see them.", "direction"),
		compressionBytes:  d("compression_bytes_total", "Outgoing data bytes that were compressed, before and after compression.", "stage"),
		creditStalls:      d("credit_stalls_total", "Times a stream had data queued but no credit."),
		windowBytes:       d("receive_window_bytes", "Sum of the live streams' receive windows (auto-tuned)."),
		controlQueue:      d("control_queue_frames", "Control frames waiting in session writers."),
		resumes:           d("resumes_total", "Transports re-attached to a parked session (session resume)."),
		disconnects:       d("disconnects_total", "Transports lost by resumable sessions."),
		resent:            d("resent_bytes_total", "Stream data bytes sent again after resumes."),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.sessions, c.sessionsTotal, c.streams, c.streamsOpened,
		c.transportBytes, c.transportMessages, c.dataBytes, c.compressionBytes, c.creditStalls,
		c.windowBytes, c.controlQueue, c.resumes, c.disconnects, c.resent} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.srv.Stats()
	t := st.Totals
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.sessions, float64(st.Sessions))
	counter(c.sessionsTotal, st.SessionsTotal)
	for _, kind := range []stream.Kind{stream.Upload, stream.Download, stream.Bidi, stream.Broadcast} {
		for state := stream.StateOpening; state <= stream.StateCancelled; state++ {
			if state.Terminal() {
				continue // terminal streams leave the session at once
			}
			gauge(c.streams, float64(st.Streams[kind][state]), kind.String(), state.String())
		}
	}
	counter(c.streamsOpened, t.StreamsOpened)
	counter(c.transportBytes, t.BytesIn, "in")
	counter(c.transportBytes, t.BytesOut, "out")
	counter(c.transportMessages, t.MessagesIn, "in")
	counter(c.transportMessages, t.MessagesOut, "out")
	counter(c.dataBytes, t.DataIn, "in")
	counter(c.dataBytes, t.DataOut, "out")
	counter(c.compressionBytes, t.RawOut, "before")
	counter(c.compressionBytes, t.CompressedOut, "after")
	counter(c.creditStalls, t.CreditStalls)
	gauge(c.windowBytes, float64(st.ReceiveWindowBytes))
	gauge(c.controlQueue, float64(st.QueuedControl))
	counter(c.resumes, t.Resumes)
	counter(c.disconnects, t.Disconnects)
	counter(c.resent, t.Resent)
}

// Handler returns an http.Handler serving srv's metrics, the Go runtime's and
// the process's, plus any extra collectors (e.g. a broadcast broker's), from
// a registry of its own.
func Handler(srv *stream.Server, extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(srv), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range extra {
		reg.MustRegister(c)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
