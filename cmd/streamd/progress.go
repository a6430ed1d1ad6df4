package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/streamd/streamd/stream"
)

var termIsTerminal = term.IsTerminal

// progressUI draws a progress bar on w when w is a terminal and does nothing
// otherwise (the summary line is printed either way). Its update method is a
// files Progress callback.
type progressUI struct {
	w       io.Writer
	verb    string
	enabled bool
	bar     *progressbar.ProgressBar
}

func newProgressUI(w io.Writer, verb string) *progressUI {
	return &progressUI{w: w, verb: verb, enabled: isTerminal(w)}
}

func (u *progressUI) update(p stream.Progress) {
	if !u.enabled {
		return
	}
	if u.bar == nil {
		u.bar = progressbar.NewOptions64(p.Total,
			progressbar.OptionSetWriter(u.w),
			progressbar.OptionSetDescription(u.verb),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionFullWidth(),
		)
	}
	u.bar.Set64(p.Sent + p.Received) //nolint:errcheck // drawing only
}

// done finishes the bar (ok) or leaves it where the transfer stopped.
func (u *progressUI) done(ok bool) {
	if u.bar == nil {
		return
	}
	if ok {
		u.bar.Finish() //nolint:errcheck // drawing only
	} else {
		u.bar.Exit() //nolint:errcheck // drawing only
	}
	fmt.Fprintln(u.w)
}
