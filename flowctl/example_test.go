package flowctl_test

import (
	"fmt"

	"github.com/streamd/streamd/flowctl"
)

// Example shows one stream's credit loop as a session drives it: the receiver's window, the
// sender's window, the writer's scheduler and its control queue.
func Example() {
	budget := flowctl.NewBudget(8 << 20) // per connection
	recv := flowctl.NewRecvWindow(flowctl.RecvConfig{StreamID: 7, Initial: 64 << 10, FixedWindow: true, Budget: budget})
	send := flowctl.NewSendWindow(64 << 10) // the initial window announced in the handshake
	var sched flowctl.SendScheduler
	credits := flowctl.NewControlQueue[uint64](1024)

	// Sender: the writer serves stream 7 while it has data and credit.
	sched.Push(7, 1)
	for send.Available() > 0 {
		id, _ := sched.Pop()
		n := min(16<<10, send.Available())
		off := send.Sent()
		_ = send.Consume(n)
		// ... DATA(id, off, n) crosses the wire ...
		if err := recv.OnData(off, n); err != nil { // reader goroutine, under the stream's mutex
			fmt.Println(err)
			return
		}
		if send.Available() > 0 {
			sched.Push(id, 1)
		}
	}
	fmt.Println("sender blocked at", send.Sent(), "buffered", recv.Buffered())

	// Receiver: the application reads; credit follows consumption, batched by half a window.
	recv.OnConsume(32 << 10)
	if limit, ok := recv.PendingGrant(); ok {
		_ = credits.Push(limit) // the writer sends CREDIT(7, limit)
	}
	limit, _ := credits.Pop()
	send.Update(limit) // the sender's reader applies it
	fmt.Println("credit", limit, "available", send.Available(), "budget in use", budget.InUse())

	// A peer ignoring its credit is caught with the stream, the bytes and the credit.
	fmt.Println(recv.OnData(recv.Received(), 64<<10))
	// Output:
	// sender blocked at 65536 buffered 65536
	// credit 98304 available 32768 budget in use 65536
	// flowctl: stream 7 sent 131072 bytes beyond credit 98304
}
