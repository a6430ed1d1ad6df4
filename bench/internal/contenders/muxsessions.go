package contenders

import (
	"net"

	"github.com/streamd/streamd/bench/internal/harness"
)

// muxServerSession is the server end of a multiplexer session as the
// sessions scenario holds it: accept blocks until a stream arrives or the
// session ends.
type muxServerSession interface {
	accept() error
	Close() error
}

// serveMuxSessions accepts connections on ln, wraps each in a server
// session made by newSession and keeps one goroutine per session in accept
// (streams that do arrive are left open: an idle benchmark opens none).
func serveMuxSessions(ln net.Listener, newSession func(net.Conn) (muxServerSession, error)) harness.SessionServer {
	s := &muxSessionServer{ln: ln, tracker: newSessionTracker(), loopDone: make(chan struct{})}
	go func() {
		defer close(s.loopDone)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.tracker.begin() {
				_ = c.Close()
				return
			}
			go func() {
				defer s.tracker.end()
				sess, err := newSession(c)
				if err != nil {
					_ = c.Close()
					return
				}
				defer sess.Close()
				if !s.tracker.add(sess) {
					return
				}
				defer s.tracker.remove(sess)
				for sess.accept() == nil {
				}
			}()
		}
	}()
	return s
}

type muxSessionServer struct {
	ln       net.Listener
	tracker  *sessionTracker
	loopDone chan struct{}
}

func (s *muxSessionServer) Established() int { return s.tracker.Established() }

func (s *muxSessionServer) Close() error {
	err := s.ln.Close()
	<-s.loopDone
	s.tracker.closeAll()
	return ignoreClosed(err)
}
