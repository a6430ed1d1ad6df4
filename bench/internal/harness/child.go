package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Environment of a session-dialing child process.
const (
	childEnvRole      = "STREAMD_BENCH_CHILD"
	childRoleDialer   = "session-dialer"
	childEnvContender = "STREAMD_BENCH_CONTENDER"
	childEnvAddr      = "STREAMD_BENCH_ADDR"
	childEnvCount     = "STREAMD_BENCH_COUNT"
	childEnvDialers   = "STREAMD_BENCH_DIALERS"
)

// childDialTimeout bounds one DialSession in the child.
const childDialTimeout = time.Minute

// RunChild must be called first thing by every program (and TestMain) that
// runs the sessions scenario: the scenario re-executes the program as a
// child that opens the client sessions, so that the server's memory is
// measured alone and the two ends do not share one file-descriptor limit.
// RunChild reports whether this process is such a child; if so it has done
// the child's work and the caller must exit with code.
func RunChild(contenders []SessionContender) (isChild bool, code int) {
	if os.Getenv(childEnvRole) != childRoleDialer {
		return false, 0
	}
	if err := runDialer(contenders, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stdout, "error %v\n", err)
		return true, 1
	}
	return true, 0
}

// runDialer is the child side: say "ready", wait for "go", open the
// sessions, say "done", hold them until stdin closes, close them.
func runDialer(contenders []SessionContender, in io.Reader, out io.Writer) error {
	name := os.Getenv(childEnvContender)
	var c SessionContender
	for _, x := range contenders {
		if x.Name() == name {
			c = x
		}
	}
	if c == nil {
		return fmt.Errorf("no session contender named %q in the child", name)
	}
	addr := os.Getenv(childEnvAddr)
	n, err := strconv.Atoi(os.Getenv(childEnvCount))
	if err != nil || n < 1 {
		return fmt.Errorf("bad %s %q", childEnvCount, os.Getenv(childEnvCount))
	}
	dialers, err := strconv.Atoi(os.Getenv(childEnvDialers))
	if err != nil || dialers < 1 {
		return fmt.Errorf("bad %s %q", childEnvDialers, os.Getenv(childEnvDialers))
	}

	fmt.Fprintln(out, "ready")
	sc := bufio.NewScanner(in)
	if !sc.Scan() || sc.Text() != "go" {
		return fmt.Errorf("expected \"go\" from the parent")
	}

	sessions := make([]io.Closer, n)
	defer func() {
		for _, s := range sessions {
			if s != nil {
				_ = s.Close()
			}
		}
	}()
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range min(dialers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for firstErr.Load() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), childDialTimeout)
				s, err := c.DialSession(ctx, dialNoLinger(addr))
				cancel()
				if err != nil {
					err = fmt.Errorf("session %d: %w", i, err)
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				sessions[i] = s
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	fmt.Fprintln(out, "done")
	for sc.Scan() { // hold the sessions until the parent closes stdin
	}
	return nil
}

// dialNoLinger dials addr and sets SO_LINGER to 0, so that closing
// thousands of sessions resets them instead of leaving thousands of sockets
// in TIME_WAIT to exhaust the loopback's ephemeral ports across repeats.
func dialNoLinger(addr string) func(ctx context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return c, nil
	}
}
