// Package flowctl holds the flow-control building blocks of a streamd session: per-stream
// credit windows (SendWindow, RecvWindow), window auto-tuning toward the bandwidth-delay
// product, a connection-wide memory budget (Budget), the writer's send scheduler
// (SendScheduler) and a bounded control-frame queue (ControlQueue).
//
// # Credits
//
// Credits are absolute byte offsets, as QUIC's MAX_STREAM_DATA: a CREDIT frame carrying L
// says "you may send the stream's bytes up to offset L". Limits only increase, so duplicated
// or reordered CREDIT frames are harmless (SendWindow.Update ignores lower values).
//
// A receiver grants credit as the application consumes data, not when bytes arrive, so a slow
// reader holds back only its own sender. Grants are batched: RecvWindow.PendingGrant yields a
// new limit only once at least half a window is un-announced (or the peer's credit no longer
// covers one frame), and then commits it: the caller must send CREDIT(limit).
//
// # Auto-tuning
//
// Like quic-go's receive flow controller, a RecvWindow looks at each "epoch" of data (half a
// window consumed). When a full window was consumed in under eight smoothed RTTs (RTTStats,
// fed by the session's PING/PONG), the window may be what limits the stream, so it doubles,
// up to RecvConfig.Max and the Budget's cap and only when the budget has room. Like gRPC's
// BDP estimator, it keeps a doubling only if it paid: the consumption rate measured over at
// least four RTTs (two while ramping up) and 20 ms after the doubling must be 1.25 × the rate
// before, else the bottleneck is elsewhere (CPU, reader, link) and the window steps back and
// holds for a second. A link-limited stream settles at 1–2 × its bandwidth-delay product; a
// CPU-bound stream on a short path keeps its initial window, so bulk data does not queue in
// socket buffers ahead of small messages. Granted credit is never revoked: a window that
// steps back grants less later.
//
// # Memory bound
//
// A Budget caps the bytes a connection has granted but the applications have not yet
// consumed, summed over all streams (buffered bytes plus bytes the peers may still send).
// Each RecvWindow acquires budget for every byte of credit it grants and gives it back as the
// application consumes or when the window is released. Two exceptions let every stream make
// progress at the cap: the initial window promised in the handshake is always honoured, and a
// stream whose outstanding credit fell below RecvConfig.Min is topped up to Min. The worst
// case is therefore cap + maxStreams × Initial (every stream's promised initial window on top
// of a full budget); streams then run on Min-sized top-ups until consumption frees budget.
// Keep Initial modest when maxStreams is large: auto-tuning grows busy streams anyway.
//
// # Typical use
//
// The reader goroutine calls RecvWindow.OnData for each DATA frame and SendWindow.Update for
// each CREDIT frame; an application Read calls OnConsume and then PendingGrant, and queues
// CREDIT(limit) on a ControlQueue when it returns ok; the writer sends control frames first,
// then pops streams from the SendScheduler, sends one frame of each (SendWindow.Consume) and
// pushes them back while they have data and credit. See Example.
//
// # Concurrency contract
//
// SendWindow, RecvWindow, SendScheduler and ControlQueue are not synchronized: the session
// guards each stream's windows with that stream's mutex and the scheduler and control queue
// with the writer's (or the session's) mutex. Budget, RTTStats and FakeClock are safe for
// concurrent use; one Budget and one RTTStats are normally shared by all windows of a
// connection. Nothing in this package starts goroutines or blocks.
//
// Methods whose misuse can only be a bug in the calling session (consuming bytes that were
// never received, releasing budget that was never acquired, an invalid RecvConfig passed to
// NewRecvWindow) panic with a message, as sync.WaitGroup does; everything the remote peer
// controls is reported as a *FlowError instead.
package flowctl
