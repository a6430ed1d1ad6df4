package netem

import (
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// tunName is the TUN device's name inside its own namespace.
const tunName = "sdtun0"

// tunQueueLen is the kernel's per-device packet queue ahead of the
// forwarder's reads; the default (500) can overflow when the forwarder's
// goroutine is descheduled on a busy machine, and those drops would not show
// in Stats.
const tunQueueLen = 4096

// openTUN creates a TUN device (layer 3, no packet-information header, no
// virtio header, so the kernel hands over plain IP packets of at most the MTU,
// never GSO super-packets) in namespace ns, addresses it as local peer
// remote (point to point, /32) and brings it up. The returned file is in
// non-blocking mode, so its Read parks in the runtime poller and Close
// unblocks it.
func openTUN(ns *namespace, local, remote netip.Addr, mtu int) (*os.File, error) {
	var f *os.File
	err := runIn(ns.fd, func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(tunName)
		if err != nil {
			_ = unix.Close(fd)
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			_ = unix.Close(fd)
			return fmt.Errorf("TUNSETIFF: %w", err)
		}
		f = os.NewFile(uintptr(fd), "tun:"+ns.name)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// addrgenmode none: no IPv6 link-local address, so no router or neighbour
	// solicitations cross the link; only the traffic under test does.
	batch := fmt.Sprintf("link set dev lo up\n"+
		"link set dev %[1]s mtu %[2]d txqueuelen %[3]d addrgenmode none\n"+
		"addr add %[4]s peer %[5]s dev %[1]s\n"+
		"link set dev %[1]s up\n",
		tunName, mtu, tunQueueLen, local, remote.String()+"/32")
	if err := runIP(batch, "-n", ns.name, "-batch", "-"); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}
