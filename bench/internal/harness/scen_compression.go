package harness

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

var (
	metricCompMBps   = Metric{Key: "compress_mb_per_s", Label: "compress", Unit: "MB/s", HigherIsBetter: true, Chart: true}
	metricDecompMBps = Metric{Key: "decompress_mb_per_s", Label: "decompress", Unit: "MB/s", HigherIsBetter: true, Chart: true}
	metricRatio      = Metric{Key: "ratio", Label: "compression ratio", Unit: "×", HigherIsBetter: true, Chart: true}
)

func runCompression(ctx context.Context, r *runner) (*ScenarioResult, error) {
	codecs := r.contenders.Codecs
	if len(codecs) == 0 {
		return nil, fmt.Errorf("%w: no codecs", ErrNoContenders)
	}
	infos := make([]ContenderInfo, len(codecs))
	found := false
	for i, c := range codecs {
		infos[i] = ContenderInfo{Name: c.Name(), Description: "per-message " + c.Name()}
		found = found || c.Name() == r.contenders.CodecBaseline
	}
	if !found {
		return nil, fmt.Errorf("%w: baseline %q is not a codec", ErrNoContenders, r.contenders.CodecBaseline)
	}
	p := r.profile
	res := &ScenarioResult{
		Description: fmt.Sprintf("Each %s message of a %s data set is compressed on its own, as a session "+
			"compresses frames, then decompressed and checked. MB/s counts uncompressed bytes on one core, "+
			"timed over at least %v per direction; ratio is uncompressed / compressed size. JSON lines are "+
			"synthetic request logs; random is incompressible.",
			sizeLabel(p.CompressionMessage), sizeLabel(p.CompressionCorpus), p.CompressionMeasure),
		Baseline:   r.contenders.CodecBaseline,
		Primary:    metricCompMBps.Key,
		Metrics:    []Metric{metricCompMBps, metricDecompMBps, metricRatio},
		Contenders: infos,
	}
	corpora := []struct {
		name string
		data []byte
	}{
		{"json-lines", JSONLines(p.CompressionCorpus, 1)},
		{"random", RandomBytes(p.CompressionCorpus, 1)},
	}
	col := newCollector()
	for _, corpus := range corpora {
		msgs := split(corpus.data, p.CompressionMessage)
		for rep := 1; rep <= p.Repeat; rep++ {
			for _, c := range codecs {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				m, err := compressOnce(c, msgs, p.CompressionMeasure)
				if err != nil {
					col.fail(corpus.name, c.Name(), err)
					r.logf("compression %-10s %-14s rep %d/%d: error: %v", corpus.name, c.Name(), rep, p.Repeat, err)
					continue
				}
				col.add(corpus.name, c.Name(), metricCompMBps.Key, mbps(m.compress))
				col.add(corpus.name, c.Name(), metricDecompMBps.Key, mbps(m.decompress))
				col.add(corpus.name, c.Name(), metricRatio.Key, m.ratio)
				r.logf("compression %-10s %-14s rep %d/%d: compress %8.1f MB/s  decompress %8.1f MB/s  ratio %.2f",
					corpus.name, c.Name(), rep, p.Repeat, mbps(m.compress), mbps(m.decompress), m.ratio)
			}
		}
	}
	return finish(col, res)
}

type compressResult struct {
	compress, decompress float64 // uncompressed bytes per second
	ratio                float64
}

// compressOnce times compressing and decompressing every message, in whole
// passes, until at least minTime has passed for each direction.
func compressOnce(c Codec, msgs [][]byte, minTime time.Duration) (compressResult, error) {
	var total int
	for _, m := range msgs {
		total += len(m)
	}
	packed := make([][]byte, len(msgs))
	var res compressResult

	var passes int
	start := time.Now()
	for passes == 0 || time.Since(start) < minTime {
		for i, m := range msgs {
			out, err := c.Compress(packed[i][:0], m)
			if err != nil {
				return res, fmt.Errorf("compress message %d: %w", i, err)
			}
			packed[i] = out
		}
		passes++
	}
	res.compress = float64(total*passes) / time.Since(start).Seconds()
	var packedTotal int
	for _, b := range packed {
		packedTotal += len(b)
	}
	res.ratio = float64(total) / float64(packedTotal)

	buf := make([]byte, 0, len(msgs[0]))
	for i, b := range packed { // check once, untimed
		out, err := c.Decompress(buf[:0], b)
		if err != nil {
			return res, fmt.Errorf("decompress message %d: %w", i, err)
		}
		if !bytes.Equal(out, msgs[i]) {
			return res, fmt.Errorf("message %d does not round-trip", i)
		}
		buf = out
	}
	passes = 0
	start = time.Now()
	for passes == 0 || time.Since(start) < minTime {
		for i, b := range packed {
			out, err := c.Decompress(buf[:0], b)
			if err != nil {
				return res, fmt.Errorf("decompress message %d: %w", i, err)
			}
			buf = out
		}
		passes++
	}
	res.decompress = float64(total*passes) / time.Since(start).Seconds()
	return res, nil
}

func split(data []byte, size int) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		n := min(size, len(data))
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// JSONLines returns n bytes of synthetic JSON-lines request logs generated
// deterministically from seed; the last line may be cut short.
func JSONLines(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	services := []string{"checkout", "search", "auth", "catalog", "payments", "shipping"}
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	routes := []string{"/api/v1/orders/", "/api/v1/items/", "/api/v1/users/", "/api/v2/search?q=", "/healthz#"}
	levels := []string{"info", "info", "info", "info", "debug", "warn", "error"}
	statuses := []int{200, 200, 200, 200, 201, 204, 304, 400, 404, 500}
	msgs := []string{"request completed", "cache miss", "upstream slow", "retrying", "validation failed"}
	ts := time.Date(2026, 11, 27, 14, 0, 0, 0, time.UTC)
	out := make([]byte, 0, n+512)
	for len(out) < n {
		ts = ts.Add(time.Duration(rng.IntN(5000)) * time.Microsecond)
		user := rng.IntN(100_000)
		out = append(out, `{"ts":"`...)
		out = ts.AppendFormat(out, "2006-01-02T15:04:05.000000Z")
		out = append(out, `","level":"`...)
		out = append(out, levels[rng.IntN(len(levels))]...)
		out = append(out, `","service":"`...)
		out = append(out, services[rng.IntN(len(services))]...)
		out = append(out, `","host":"web-`...)
		out = strconv.AppendInt(out, int64(rng.IntN(32)), 10)
		out = append(out, `","trace_id":"`...)
		out = strconv.AppendUint(out, rng.Uint64(), 16)
		out = append(out, `","user_id":`...)
		out = strconv.AppendInt(out, int64(user), 10)
		out = append(out, `,"method":"`...)
		out = append(out, methods[rng.IntN(len(methods))]...)
		out = append(out, `","path":"`...)
		out = append(out, routes[rng.IntN(len(routes))]...)
		out = strconv.AppendInt(out, int64(rng.IntN(1_000_000)), 10)
		out = append(out, `","status":`...)
		out = strconv.AppendInt(out, int64(statuses[rng.IntN(len(statuses))]), 10)
		out = append(out, `,"latency_ms":`...)
		out = strconv.AppendFloat(out, rng.ExpFloat64()*20, 'f', 3, 64)
		out = append(out, `,"bytes":`...)
		out = strconv.AppendInt(out, int64(rng.IntN(64<<10)), 10)
		out = append(out, `,"msg":"`...)
		out = append(out, msgs[rng.IntN(len(msgs))]...)
		out = append(out, "\"}\n"...)
	}
	return out[:n]
}

// RandomBytes returns n incompressible bytes generated deterministically
// from seed.
func RandomBytes(n int, seed uint64) []byte {
	var key [32]byte
	for i := range 4 {
		for j := range 8 {
			key[i*8+j] = byte(seed >> (8 * j))
		}
	}
	out := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(out) // never fails
	return out
}
