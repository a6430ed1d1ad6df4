package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/stream"
	"github.com/streamd/streamd/stream/broadcast"
)

// scrape returns the value of the sample whose line starts with prefix.
func scrape(t *testing.T, url, prefix string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(line[len(prefix):]), 64)
			require.NoError(t, err)
			return v
		}
	}
	t.Fatalf("no sample %q in:\n%s", prefix, body)
	return 0
}

func TestMetricsMoveWithATransfer(t *testing.T) {
	mux := stream.NewMux()
	hold := make(chan struct{})
	mux.Handle("up", stream.Upload, func(ctx context.Context, st *stream.Stream) error {
		if err := st.Accept(nil); err != nil {
			return err
		}
		<-hold
		_, err := io.Copy(io.Discard, st)
		return err
	})
	srv, err := stream.NewServer(mux, nil)
	require.NoError(t, err)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	ms := httptest.NewServer(Handler(srv))
	defer ms.Close()

	require.Zero(t, scrape(t, ms.URL, "streamd_sessions"))
	sess, err := stream.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), &stream.DialOptions{Config: &stream.Config{Compression: []string{"zstd"}}})
	require.NoError(t, err)
	defer sess.Close()
	// The server registers the session just after sending WELCOME.
	require.Eventually(t, func() bool { return scrape(t, ms.URL, "streamd_sessions") == 1 }, 10*time.Second, 5*time.Millisecond)

	st, err := sess.Open(context.Background(), stream.OpenOptions{Route: "up", Kind: stream.Upload})
	require.NoError(t, err)
	require.Equal(t, 1.0, scrape(t, ms.URL, `streamd_streams{kind="upload",state="active"}`))
	require.Positive(t, scrape(t, ms.URL, "streamd_receive_window_bytes"))

	data := []byte(strings.Repeat("a log line that compresses well\n", 1<<15)) // 1 MiB
	go func() { st.Write(data); st.Close() }()                                 //nolint:errcheck // observed on the server
	before := scrape(t, ms.URL, `streamd_data_bytes_total{direction="in"}`)
	close(hold)
	<-st.Done()
	require.Equal(t, stream.StateCompleted, st.State())
	after := scrape(t, ms.URL, `streamd_data_bytes_total{direction="in"}`)
	require.Less(t, before, after, "the counter moved while the transfer ran")
	require.Equal(t, float64(len(data)), after)
	require.Positive(t, scrape(t, ms.URL, `streamd_transport_bytes_total{direction="in"}`))
	require.Less(t, scrape(t, ms.URL, `streamd_transport_bytes_total{direction="in"}`), float64(len(data)), "compressed on the wire")
	require.Equal(t, 1.0, scrape(t, ms.URL, "streamd_streams_opened_total"))
	require.Eventually(t, func() bool {
		return scrape(t, ms.URL, `streamd_streams{kind="upload",state="active"}`) == 0
	}, 10*time.Second, 5*time.Millisecond)
}

func TestBroadcastMetrics(t *testing.T) {
	m, err := broadcast.NewMemory(nil)
	require.NoError(t, err)
	defer m.Close()
	_, err = m.CreateTopic("logs", nil)
	require.NoError(t, err)
	_, err = m.Publish("logs", []byte("line 1"))
	require.NoError(t, err)
	_, err = m.Publish("logs", []byte("line 2"))
	require.NoError(t, err)
	srv, err := stream.NewServer(stream.NewMux(), nil)
	require.NoError(t, err)
	ms := httptest.NewServer(Handler(srv, NewBroadcastCollector(m)))
	defer ms.Close()
	require.Equal(t, 2.0, scrape(t, ms.URL, `streamd_topic_published_records_total{topic="logs"}`))
	require.Zero(t, scrape(t, ms.URL, `streamd_topic_subscribers{topic="logs"}`))
	require.Zero(t, scrape(t, ms.URL, `streamd_resumes_total`))
}
