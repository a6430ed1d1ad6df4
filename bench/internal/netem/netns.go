package netem

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// namePrefix starts the name of every namespace this package creates:
// sdbench-<pid>-<n>-c (client) and sdbench-<pid>-<n>-s (server).
const namePrefix = "sdbench-"

// netnsDirs are where `ip netns add` bind-mounts named namespaces.
var netnsDirs = []string{"/run/netns", "/var/run/netns"}

// instances numbers the links of this process.
var instances atomic.Uint64

// ipCommand finds iproute2's ip, which is often outside a non-root PATH.
func ipCommand() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errors.New("ip (iproute2) not found")
}

// runIP runs ip with args, feeding it stdin (batch mode) if not empty.
func runIP(stdin string, args ...string) error {
	bin, err := ipCommand()
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// namespace is a named network namespace and an open handle on it.
type namespace struct {
	name string
	fd   int // -1 once closed
}

// addNamespace creates the named namespace with its loopback up and opens
// it.
func addNamespace(name string) (*namespace, error) {
	if err := runIP("", "netns", "add", name); err != nil {
		return nil, err
	}
	ns := &namespace{name: name, fd: -1}
	var err error
	for _, dir := range netnsDirs {
		ns.fd, err = unix.Open(dir+"/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			break
		}
	}
	if err != nil {
		_ = deleteNamespaces(name)
		return nil, fmt.Errorf("open namespace %s: %w", name, err)
	}
	return ns, nil
}

// closeFD releases the handle; the namespace lives on until deleted.
func (ns *namespace) closeFD() {
	if ns.fd >= 0 {
		_ = unix.Close(ns.fd)
		ns.fd = -1
	}
}

// deleteNamespaces removes the named namespaces (their mounts; the kernel
// frees each once its last socket is gone).
func deleteNamespaces(names ...string) error {
	if len(names) == 0 {
		return nil
	}
	var batch strings.Builder
	for _, n := range names {
		fmt.Fprintf(&batch, "netns del %s\n", n)
	}
	return runIP(batch.String(), "-force", "-batch", "-")
}

// runIn runs fn on a goroutine whose OS thread is switched into the network
// namespace open at nsFD: the sockets fn creates belong to that namespace and
// keep working from any goroutine afterwards. Goroutines fn starts run on
// other threads, in the process's namespace. If the thread cannot be switched
// back it stays locked, so the runtime discards it with its goroutine.
func runIn(nsFD int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own network namespace: %w", err)
			return
		}
		defer unix.Close(orig) //nolint:errcheck // read-only handle
		if err := unix.Setns(nsFD, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it exits with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("leave network namespace: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

var staleOnce sync.Once

// removeStale deletes the namespaces left by earlier processes of this
// package that died before closing their links (their pid is gone).
func removeStale() {
	staleOnce.Do(func() {
		var stale []string
		for _, dir := range netnsDirs {
			entries, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range entries {
				pid, ok := ownerPID(e.Name())
				if ok && pid != os.Getpid() && !alive(pid) {
					stale = append(stale, e.Name())
				}
			}
			break
		}
		_ = deleteNamespaces(stale...)
	})
}

// ownerPID extracts <pid> from sdbench-<pid>-<n>-<side>.
func ownerPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	pidText, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidText)
	return pid, err == nil && pid > 0
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// CongestionControls lists the TCP congestion controllers the kernel offers
// (net.ipv4.tcp_available_congestion_control), for
// Config.TCPCongestionControl.
func CongestionControls() ([]string, error) {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/tcp_available_congestion_control")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(raw)), nil
}
