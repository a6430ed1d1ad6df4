package netem

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Addresses of the two ends. Each link has namespaces of its own, so every
// link can use the same pair.
var (
	clientIP = netip.MustParseAddr("10.213.0.2")
	serverIP = netip.MustParseAddr("10.213.0.1")
)

// Link is an emulated network path between two network namespaces, a client
// and a server, each with a TUN device; a forwarder in this process carries
// the IP packets between the devices and shapes each direction. Sockets made
// through Client and Server (or Listen, ListenPacket and Dial) belong to those
// namespaces and reach each other only through the emulated path.
type Link struct {
	cfg            Config
	client, server Endpoint
	up, down       *pipe
	tuns           []*os.File
	done           chan struct{}
	wg             sync.WaitGroup

	mu     sync.RWMutex // guards closed against the namespace handles' release
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// Endpoint is one end of a Link: a network namespace with one address.
type Endpoint struct {
	link *Link
	ns   *namespace
	ip   netip.Addr
}

var (
	availOnce sync.Once
	availErr  error
)

// Available reports whether New can work on this machine: nil, or an error
// matching ErrUnavailable that says why (not root, no /dev/net/tun, no ip
// command, namespaces refused). It sets up and tears down one link the first
// time and remembers the answer.
func Available() error {
	availOnce.Do(func() {
		if euid := os.Geteuid(); euid != 0 {
			availErr = fmt.Errorf("%w: needs root (network namespaces and TUN devices), running as uid %d", ErrUnavailable, euid)
			return
		}
		if _, err := os.Stat("/dev/net/tun"); err != nil {
			availErr = fmt.Errorf("%w: %w", ErrUnavailable, err)
			return
		}
		if _, err := ipCommand(); err != nil {
			availErr = fmt.Errorf("%w: %w", ErrUnavailable, err)
			return
		}
		l, err := New(Config{})
		if err != nil {
			availErr = err
			return
		}
		if err := l.Close(); err != nil {
			availErr = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	})
	return availErr
}

// New creates the two namespaces and their TUN devices and starts the
// forwarder. Errors match ErrInvalidConfig, or ErrUnavailable when the
// machine refused a step (nothing is left behind). Close the Link to remove
// everything.
func New(cfg Config) (*Link, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	removeStale()
	base := fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), instances.Add(1))
	l := &Link{cfg: cfg, done: make(chan struct{})}
	l.client = Endpoint{link: l, ip: clientIP}
	l.server = Endpoint{link: l, ip: serverIP}
	fail := func(err error) (*Link, error) {
		l.teardown()
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var err error
	if l.client.ns, err = addNamespace(base + "-c"); err != nil {
		return fail(err)
	}
	if l.server.ns, err = addNamespace(base + "-s"); err != nil {
		return fail(err)
	}
	mtu := cfg.mtu()
	clientTUN, err := openTUN(l.client.ns, clientIP, serverIP, mtu)
	if err != nil {
		return fail(err)
	}
	l.tuns = append(l.tuns, clientTUN)
	serverTUN, err := openTUN(l.server.ns, serverIP, clientIP, mtu)
	if err != nil {
		return fail(err)
	}
	l.tuns = append(l.tuns, serverTUN)

	l.up = newPipe(clientTUN, serverTUN, cfg.Up, cfg.queueBytes(cfg.Up), mtu, cfg.Seed, 1, l.done)
	l.down = newPipe(serverTUN, clientTUN, cfg.Down, cfg.queueBytes(cfg.Down), mtu, cfg.Seed, 2, l.done)
	for _, p := range []*pipe{l.up, l.down} {
		l.wg.Add(2)
		go func() { defer l.wg.Done(); p.read() }()
		go func() { defer l.wg.Done(); p.write() }()
	}
	return l, nil
}

// Close stops the forwarder, closes the TUN devices and deletes both
// namespaces. Sockets still open in them stop reaching each other; close them
// too (the kernel frees a namespace with its last socket). Close may be called
// more than once.
func (l *Link) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.teardown() })
	return l.closeErr
}

// teardown releases whatever New got as far as creating.
func (l *Link) teardown() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	close(l.done)
	var errs []error
	for _, f := range l.tuns {
		errs = append(errs, f.Close()) // unblocks the readers
	}
	l.wg.Wait()
	for _, p := range []*pipe{l.up, l.down} {
		if p != nil {
			p.drain()
			if p.readerErr != nil {
				errs = append(errs, fmt.Errorf("netem: forwarder: %w", p.readerErr))
			}
		}
	}
	var names []string
	for _, ns := range []*namespace{l.client.ns, l.server.ns} {
		if ns != nil {
			ns.closeFD()
			names = append(names, ns.name)
		}
	}
	errs = append(errs, deleteNamespaces(names...))
	return errors.Join(errs...)
}

// Config returns the configuration the link was created with (SetLoss
// changes are not reflected).
func (l *Link) Config() Config { return l.cfg }

// Client is the client end: packets it sends cross the Up direction.
func (l *Link) Client() *Endpoint { return &l.client }

// Server is the server end: packets it sends cross the Down direction.
func (l *Link) Server() *Endpoint { return &l.server }

// ClientIP is the client end's address.
func (l *Link) ClientIP() netip.Addr { return l.client.ip }

// ServerIP is the server end's address.
func (l *Link) ServerIP() netip.Addr { return l.server.ip }

// Listen listens in the server's namespace (Server().Listen).
func (l *Link) Listen(network, address string) (net.Listener, error) {
	return l.server.Listen(network, address)
}

// ListenPacket opens a packet socket in the server's namespace
// (Server().ListenPacket).
func (l *Link) ListenPacket(network, address string) (net.PacketConn, error) {
	return l.server.ListenPacket(network, address)
}

// Dial connects from the client's namespace (Client().DialContext).
func (l *Link) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	return l.client.DialContext(ctx, network, address)
}

// Stats is a snapshot of both directions' counters.
type Stats struct {
	// Up is client→server, Down server→client.
	Up, Down DirStats
}

// Stats returns the counters so far.
func (l *Link) Stats() Stats { return Stats{Up: l.up.snapshot(), Down: l.down.snapshot()} }

// SetLoss changes the loss rates of both directions from the next packet on
// (each direction's MeanBurst stays). Errors match ErrInvalidConfig.
func (l *Link) SetLoss(up, down float64) error {
	if err := checkLoss(up, l.cfg.Up.MeanBurst); err != nil {
		return fmt.Errorf("up: %w", err)
	}
	if err := checkLoss(down, l.cfg.Down.MeanBurst); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	l.up.setLoss(up)
	l.down.setLoss(down)
	return nil
}

// control sets the configured congestion controller on a TCP socket before
// it connects or listens.
func (l *Link) control(network, _ string, rc syscall.RawConn) error {
	cc := l.cfg.TCPCongestionControl
	if cc == "" || !strings.HasPrefix(network, "tcp") {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, cc)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("netem: TCP congestion control %q: %w", cc, serr)
	}
	return nil
}

// IP is the endpoint's address on the link.
func (e *Endpoint) IP() netip.Addr { return e.ip }

// Namespace is the name of the endpoint's network namespace (for
// `ip netns exec`).
func (e *Endpoint) Namespace() string { return e.ns.name }

// Do runs fn on a goroutine whose thread is in the endpoint's network
// namespace, and waits for it: the sockets fn creates itself (not on other
// goroutines) belong to the endpoint, for libraries that open their own
// sockets. It returns ErrClosed once the Link is closed.
func (e *Endpoint) Do(fn func() error) error {
	e.link.mu.RLock()
	if e.link.closed {
		e.link.mu.RUnlock()
		return ErrClosed
	}
	// A duplicate handle keeps the namespace usable even if Close runs
	// while fn does.
	fd, err := unix.FcntlInt(uintptr(e.ns.fd), unix.F_DUPFD_CLOEXEC, 0)
	e.link.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("netem: duplicate namespace handle: %w", err)
	}
	defer unix.Close(fd) //nolint:errcheck // read-only handle
	return runIn(fd, fn)
}

// Listen is net.Listen in the endpoint's namespace; a TCP listener and the
// connections it accepts use Config.TCPCongestionControl.
func (e *Endpoint) Listen(network, address string) (net.Listener, error) {
	var ln net.Listener
	err := e.Do(func() (err error) {
		lc := net.ListenConfig{Control: e.link.control}
		ln, err = lc.Listen(context.Background(), network, address)
		return err
	})
	return ln, err
}

// ListenPacket is net.ListenPacket in the endpoint's namespace; a "udp"
// socket is a *net.UDPConn.
func (e *Endpoint) ListenPacket(network, address string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := e.Do(func() (err error) {
		pc, err = net.ListenPacket(network, address)
		return err
	})
	return pc, err
}

// DialContext is net.Dialer.DialContext from the endpoint's namespace; a
// TCP connection uses Config.TCPCongestionControl.
func (e *Endpoint) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := e.Do(func() (err error) {
		d := net.Dialer{Control: e.link.control}
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}
