package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

var (
	metricHeap  = Metric{Key: "heap_kib", Label: "heap / session", Unit: "KiB", HigherIsBetter: false, Chart: true}
	metricStack = Metric{Key: "stack_kib", Label: "stacks / session", Unit: "KiB", HigherIsBetter: false}
	metricRSS   = Metric{Key: "rss_kib", Label: "RSS / session", Unit: "KiB", HigherIsBetter: false, Chart: true}
	metricGor   = Metric{Key: "goroutines", Label: "goroutines / session", Unit: "", HigherIsBetter: false}
	metricHS    = Metric{Key: "handshakes_per_s", Label: "handshakes", Unit: "/s", HigherIsBetter: true, Chart: true}
)

// sessionTimeout bounds one sessions measurement, child start to teardown.
const sessionTimeout = 3 * time.Minute

func runSessions(ctx context.Context, r *runner) (*ScenarioResult, error) {
	scs := r.contenders.Sessions
	if len(scs) == 0 {
		return nil, fmt.Errorf("%w: no session contenders", ErrNoContenders)
	}
	infos := make([]ContenderInfo, len(scs))
	found := false
	for i, c := range scs {
		infos[i] = ContenderInfo{Name: c.Name(), Description: c.Description()}
		found = found || c.Name() == r.contenders.SessionBaseline
	}
	if !found {
		return nil, fmt.Errorf("%w: baseline %q is not a session contender", ErrNoContenders, r.contenders.SessionBaseline)
	}
	p := r.profile
	res := &ScenarioResult{
		Description: fmt.Sprintf("N idle sessions are opened to a server in this process by a child process "+
			"(%d dialers at once); the server's live heap (after GC), goroutine stacks, RSS and goroutines grow by "+
			"this much per session. Handshakes/s is N divided by the time from the first dial until the server "+
			"holds all N sessions. RSS is what the OS reports and lags frees, so read it as an upper bound.",
			p.SessionDialers),
		Baseline:   r.contenders.SessionBaseline,
		Primary:    metricHeap.Key,
		Metrics:    []Metric{metricHeap, metricStack, metricRSS, metricGor, metricHS},
		Contenders: infos,
	}
	col := newCollector()
	for _, n := range p.SessionCounts {
		caseName := fmt.Sprintf("%d sessions", n)
		for rep := 1; rep <= p.Repeat; rep++ {
			for _, c := range scs {
				m, err := sessionsOnce(ctx, c, n, p.SessionDialers)
				if err != nil {
					if ctx.Err() != nil {
						return nil, ctx.Err()
					}
					col.fail(caseName, c.Name(), err)
					r.logf("sessions %-14s %-14s rep %d/%d: error: %v", caseName, c.Name(), rep, p.Repeat, err)
					continue
				}
				col.add(caseName, c.Name(), metricHeap.Key, m.heap/1024)
				col.add(caseName, c.Name(), metricStack.Key, m.stack/1024)
				col.add(caseName, c.Name(), metricRSS.Key, m.rss/1024)
				col.add(caseName, c.Name(), metricGor.Key, m.goroutines)
				col.add(caseName, c.Name(), metricHS.Key, m.handshakes)
				r.logf("sessions %-14s %-14s rep %d/%d: heap %6.1f KiB  stack %5.1f KiB  rss %6.1f KiB  %4.1f goroutines  %7.0f handshakes/s",
					caseName, c.Name(), rep, p.Repeat, m.heap/1024, m.stack/1024, m.rss/1024, m.goroutines, m.handshakes)
			}
		}
	}
	return finish(col, res)
}

// sessionResult is per session, in bytes (rss is NaN where unknown).
type sessionResult struct {
	heap, stack, rss, goroutines float64
	handshakes                   float64 // per second
}

type memSample struct {
	heap, stack uint64
	rss         float64
	goroutines  int
}

func readMem() memSample {
	runtime.GC()
	runtime.GC() // a second cycle frees what the first one's finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heap: ms.HeapAlloc, stack: ms.StackInuse, rss: rssBytes(), goroutines: runtime.NumGoroutine()}
}

func sessionsOnce(ctx context.Context, c SessionContender, n, dialers int) (res sessionResult, err error) {
	ctx, cancel := context.WithTimeout(ctx, sessionTimeout)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, fmt.Errorf("listen: %w", err)
	}
	runtime.GC()
	debug.FreeOSMemory()
	before := readMem()
	srv, err := c.ServeSessions(ln)
	if err != nil {
		_ = ln.Close()
		return res, fmt.Errorf("serve: %w", err)
	}
	defer func() {
		if cerr := srv.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close server: %w", cerr)
		}
	}()
	child, err := startDialer(ctx, c.Name(), ln.Addr().String(), n, dialers)
	if err != nil {
		return res, err
	}
	defer func() {
		if cerr := child.stop(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if err := child.expect(ctx, "ready"); err != nil {
		return res, err
	}
	t0 := time.Now()
	if err := child.send("go"); err != nil {
		return res, err
	}
	if err := child.expect(ctx, "done"); err != nil {
		return res, err
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for srv.Established() < n {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return res, fmt.Errorf("server holds %d of %d sessions: %w", srv.Established(), n, ctx.Err())
		}
	}
	elapsed := time.Since(t0)
	after := readMem()
	if got := srv.Established(); got != n {
		return res, fmt.Errorf("server holds %d sessions, want %d", got, n)
	}
	per := func(a, b float64) float64 { return (a - b) / float64(n) }
	return sessionResult{
		heap:       per(float64(after.heap), float64(before.heap)),
		stack:      per(float64(after.stack), float64(before.stack)),
		rss:        per(after.rss, before.rss),
		goroutines: per(float64(after.goroutines), float64(before.goroutines)),
		handshakes: float64(n) / elapsed.Seconds(),
	}, nil
}

// rssBytes is the resident set size of this process, NaN where unknown.
func rssBytes() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return nanValue
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return nanValue
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return nanValue
	}
	return float64(pages) * float64(os.Getpagesize())
}

var nanValue = math.NaN()

// dialerProc is the parent's handle on a session-dialing child process.
type dialerProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	stderr *strings.Builder
	waited chan error
}

func startDialer(ctx context.Context, contender, addr string, n, dialers int) (*dialerProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable for the dialer child: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(),
		childEnvRole+"="+childRoleDialer,
		childEnvContender+"="+contender,
		childEnvAddr+"="+addr,
		childEnvCount+"="+strconv.Itoa(n),
		childEnvDialers+"="+strconv.Itoa(dialers),
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	d := &dialerProc{cmd: cmd, stdin: stdin, lines: make(chan string, 4), stderr: &strings.Builder{}, waited: make(chan error, 1)}
	cmd.Stderr = &limitedWriter{w: d.stderr, n: 4096}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dialer child: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.lines <- sc.Text()
		}
		close(d.lines)
		d.waited <- cmd.Wait()
	}()
	return d, nil
}

// expect waits for the child to print want; "error ..." lines and an early
// exit become errors.
func (d *dialerProc) expect(ctx context.Context, want string) error {
	select {
	case line, ok := <-d.lines:
		switch {
		case !ok:
			return fmt.Errorf("dialer child exited before %q: %s", want, strings.TrimSpace(d.stderr.String()))
		case line == want:
			return nil
		case strings.HasPrefix(line, "error "):
			return fmt.Errorf("dialer child: %s", strings.TrimPrefix(line, "error "))
		default:
			return fmt.Errorf("dialer child said %q, want %q", line, want)
		}
	case <-ctx.Done():
		return fmt.Errorf("waiting for dialer child to say %q: %w", want, ctx.Err())
	}
}

func (d *dialerProc) send(line string) error {
	_, err := io.WriteString(d.stdin, line+"\n")
	return err
}

// stop closes the child's stdin, which makes it close its sessions and
// exit, and waits for it.
func (d *dialerProc) stop() error {
	_ = d.stdin.Close()
	for range d.lines { // drain so the reader goroutine can finish
	}
	err := <-d.waited
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return fmt.Errorf("dialer child: %w: %s", err, strings.TrimSpace(d.stderr.String()))
	}
	return err
}

// limitedWriter keeps the first n bytes written to it and drops the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
