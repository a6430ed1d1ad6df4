package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamd/streamd/stream/broadcast"
)

// BroadcastCollector exports the topics of an in-memory broadcast broker:
// subscribers, published records, what the replay ring retains, and the
// subscribers that fell behind (GAP records delivered, slow consumers cut off).
type BroadcastCollector struct {
	m *broadcast.Memory

	subscribers, published, retained, gaps, slow *prometheus.Desc
}

// NewBroadcastCollector returns a collector over m's topics.
func NewBroadcastCollector(m *broadcast.Memory) *BroadcastCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("streamd_topic_"+name, help, []string{"topic"}, nil)
	}
	return &BroadcastCollector{
		m:           m,
		subscribers: d("subscribers", "Live subscriptions."),
		published:   d("published_records_total", "Records published."),
		retained:    d("retained_bytes", "Bytes the replay ring holds."),
		gaps:        d("gaps_total", "GAP records delivered to subscribers that fell behind (drop-oldest policy)."),
		slow:        d("slow_consumers_total", "Subscribers cut off as slow consumers (disconnect policy)."),
	}
}

// Describe implements prometheus.Collector.
func (c *BroadcastCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.subscribers, c.published, c.retained, c.gaps, c.slow} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *BroadcastCollector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.m.Topics() {
		t := c.m.Topic(name)
		if t == nil {
			continue // closed since Topics listed it
		}
		st := t.Stats()
		ch <- prometheus.MustNewConstMetric(c.subscribers, prometheus.GaugeValue, float64(st.Subscribers), name)
		ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(st.Published), name)
		ch <- prometheus.MustNewConstMetric(c.retained, prometheus.GaugeValue, float64(st.RetainedBytes), name)
		ch <- prometheus.MustNewConstMetric(c.gaps, prometheus.CounterValue, float64(st.Gaps), name)
		ch <- prometheus.MustNewConstMetric(c.slow, prometheus.CounterValue, float64(st.Disconnects), name)
	}
}
