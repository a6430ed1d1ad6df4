package flowctl_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/streamd/streamd/flowctl"
)

func TestFlowErrorMessagesAndMatching(t *testing.T) {
	cases := []struct {
		err  *flowctl.FlowError
		want string
	}{
		{&flowctl.FlowError{StreamID: 7, Kind: flowctl.KindCreditExceeded, Bytes: 70000, Credit: 65536},
			"flowctl: stream 7 sent 70000 bytes beyond credit 65536"},
		{&flowctl.FlowError{StreamID: 3, Kind: flowctl.KindSendOverrun, Bytes: 10, Credit: 4},
			"flowctl: stream 3 would send 10 bytes beyond credit 4"},
		{&flowctl.FlowError{StreamID: 9, Kind: flowctl.KindOutOfOrder, Bytes: 100, Expected: 50, Credit: 1000},
			"flowctl: stream 9 data at offset 100 out of order, expected offset 50"},
		{&flowctl.FlowError{StreamID: 1}, "flowctl: stream 1 flow control violation (kind(0))"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, c.err.Error())
		wrapped := fmt.Errorf("session: %w", c.err)
		require.ErrorIs(t, wrapped, flowctl.ErrFlowControl)
		require.NotErrorIs(t, wrapped, flowctl.ErrControlQueueFull)
		var fe *flowctl.FlowError
		require.True(t, errors.As(wrapped, &fe))
		require.Equal(t, c.err, fe)
	}
	require.Equal(t, "credit exceeded", flowctl.KindCreditExceeded.String())
	require.Equal(t, "out of order", flowctl.KindOutOfOrder.String())
	require.Equal(t, "send overrun", flowctl.KindSendOverrun.String())
}
