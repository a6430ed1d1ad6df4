// Package broadcast is streamd's publish/subscribe layer: named topics that
// fan records (typically log lines) out to many subscribers over streams of
// kind stream.Broadcast, with a slow subscriber never slowing the publisher or
// anyone else. It uses only the public API of package stream.
//
// # Topics and the broker
//
// A Broker holds topics. Memory is the in-process one; the interface is narrow
// (Publish, Restart, Subscribe) so that a multi-node deployment can put topics
// on NATS JetStream or Redis streams instead. A Topic keeps a bounded replay
// ring of its newest records (TopicConfig.ReplayBytes/ReplayRecords) and its
// current epoch. Records are addressed by a Position: the epoch, which changes
// whenever the source restarts (Restart), and a sequence number from 1 within
// the epoch; a resumed subscriber therefore detects a restarted source instead
// of confusing its positions.
//
// Publish (and LineWriter, an io.Writer that publishes one record per line)
// never waits for subscribers: it copies the data into the ring and wakes them.
// Each subscriber reads the shared ring through its own cursor; its queue is
// the part of the ring published since it subscribed that it has not taken,
// capped at TopicConfig.QueueBytes. Over the cap — or when its next record
// leaves the ring — the topic's Policy applies: DropOldest skips the oldest
// records and delivers a GAP record with the exact count of records and bytes
// lost; Disconnect ends the subscription with SLOW_CONSUMER. Records are stored
// once, however many subscribers there are, so memory is bounded by the ring.
//
// # On the wire
//
// Register serves a Broker on a stream.Mux: a client opens route "topic" with
// metadata {"topic": NAME} plus where to start ({"last": N}, {"from": {"epoch":
// E, "seq": S}} or {"oldest": true}), or the route "topic/NAME" registered per
// topic. The server writes the topic as a byte stream of self-delimited
// records — DATA, GAP, EPOCH — defined in docs/PROTOCOL.md §9, with test
// vectors in testdata/broadcast/. The stream's credit-based flow control is the
// backpressure: when the subscriber reads slowly, the server's write blocks,
// its queue fills, and the policy applies to that subscriber alone. Subscribe
// and Subscription are the client side; AppendRecord and ParseRecord the codec.
//
// # Log sources
//
// FollowFile follows a file like tail -F (polling; it survives rotation by
// rename and truncation) and RunCommand publishes a process's stdout and
// stderr lines, restarting it in a new epoch if asked.
//
// # Concurrency
//
// Broker, Memory, Topic and LineWriter methods are safe for concurrent use.
// Publish, Restart, Subscribe and Close of one topic serialize on its lock;
// Publish does a constant amount of work under it plus, under the Disconnect
// policy, one comparison per subscriber. Subscribers never take that lock:
// the replay ring is a table of immutable chunks that feeds read through
// atomics, so a subscriber that is descheduled mid-read cannot hold up the
// publisher. Each topic runs one goroutine that wakes its waiting subscribers
// (waking costs time per waiting subscriber; Publish only signals it), until
// the topic is closed: close the Memory broker, which closes its topics, when
// done. A Feed's Next is called from one goroutine; the server runs one
// goroutine per subscription (the stream handler) pumping its feed into its
// stream. A Subscription's Next is called from one goroutine; its other
// methods from any. FollowFile and RunCommand run on the caller's goroutine
// until their context ends; no goroutine of this package outlives the call,
// feed or subscription that started it.
//
// Memory is bounded per topic by the replay ring (plus at most one chunk of
// 256 records or 64 KiB), and per subscription by the stream's buffers and
// the batch its pump is writing (at most 64 KiB of records).
package broadcast
