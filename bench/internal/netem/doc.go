// Package netem emulates a network path at the packet level, in user space,
// for benchmarks on machines whose kernel has no netem qdisc: one-way delay, a
// bandwidth cap with a drop-tail queue, and random packet loss (independent,
// or in Gilbert-model bursts), per direction.
//
// New creates two network namespaces (sdbench-<pid>-<n>-c for the client,
// -s for the server), each with its loopback up and a TUN device (layer 3,
// no packet-information or virtio header, MTU 1500), addressed as the point to
// point pair 10.213.0.2 (client) ↔ 10.213.0.1 (server). A forwarder in this
// process reads each IP packet from one device, decides whether the wire
// loses it, queues it behind the packets being serialised at the capped rate
// (or drops it when the queue is full), holds it for the one-way delay and
// writes it to the other device. Sockets opened through the Link's endpoints
// live in those namespaces, so TCP, UDP and QUIC between them see a real
// lossy, slow, long path, with the kernel's own congestion control, loss
// recovery and retransmission timers.
//
// It needs root, /dev/net/tun and iproute2's ip command; Available says
// whether this machine has them (tests skip with its reason). Namespaces
// are deleted by Close, including on New's error paths; namespaces left by
// a process that died without closing are removed by the next New.
//
// # Timing
//
// Delays are kept by Go timers, so each packet leaves within about a
// millisecond of its due time on an idle machine (later on a busy one); a
// capped rate is kept on average, packets leave in small bursts. The
// emulated RTT is therefore a lower bound of what sockets see.
//
// # Memory
//
// Each direction holds at most its queue (Config.QueueBytes) plus rate ×
// delay bytes in flight (without a rate cap, the queue bounds the delay line
// alone), in buffers of at most twice those bytes: full-size packets use
// pooled MTU-sized buffers, small ones buffers of their own size.
//
// # Concurrency contract
//
// A Link and its Endpoints are safe for concurrent use. The sockets their
// methods return are ordinary net.Conn, net.Listener and net.PacketConn values,
// usable from any goroutine. Close stops the forwarder's four goroutines and
// returns after they exited; it may be called more than once, concurrently
// with socket I/O (which then stalls or fails).
package netem
