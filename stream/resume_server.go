package stream

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/streamd/streamd/stream/internal/wire"
	"github.com/streamd/streamd/transport"
)

// Defaults of ServerConfig's resume fields.
const (
	DefaultResumeTTL         = 2 * time.Minute
	DefaultMaxParkedSessions = 1024
)

// resumeTokenBytes is the size of a resume token before encoding: 128 random bits.
const resumeTokenBytes = 16

func (srv *Server) resumeTTL() time.Duration {
	switch {
	case srv.cfg.ResumeTTL < 0:
		return 0
	case srv.cfg.ResumeTTL == 0:
		return DefaultResumeTTL
	}
	return srv.cfg.ResumeTTL
}

func (srv *Server) maxParked() int {
	if srv.cfg.MaxParkedSessions > 0 {
		return srv.cfg.MaxParkedSessions
	}
	return DefaultMaxParkedSessions
}

// tokenKey is the registry key of a resume token: its SHA-256, so that a
// lookup does not compare the secret itself byte by byte.
func tokenKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// makeResumable gives the new session s a resume token (in w) and registers it.
func (srv *Server) makeResumable(s *Session, w *welcomeMsg) {
	ttl := srv.resumeTTL()
	s.rs = newSessionResume(randomID(resumeTokenBytes), ttl)
	s.rs.server = srv
	s.rs.welcome = *w
	w.ResumeToken = s.rs.token
	w.ResumeTTL = max(1, int(ttl/time.Second))
	s.rs.welcome.ResumeToken, s.rs.welcome.ResumeTTL = w.ResumeToken, w.ResumeTTL
	srv.mu.Lock()
	srv.resumable[tokenKey(s.rs.token)] = s
	srv.mu.Unlock()
}

// forgetResumable removes s from the resume registry (it ended).
func (srv *Server) forgetResumable(s *Session) {
	key := tokenKey(s.rs.token)
	srv.mu.Lock()
	if srv.resumable[key] == s {
		delete(srv.resumable, key)
		// A session closed on purpose (NO_ERROR, GOING_AWAY) is remembered, so
		// that a client whose transport failed before it read the final ERROR
		// learns how it ended instead of taking the close for a cut.
		var ce *ConnError
		if errors.As(s.Err(), &ce) && (ce.Code == CodeNoError || ce.Code == CodeGoingAway) {
			srv.closedTokens.add(key, closedSession{principal: s.principal, code: ce.Code, reason: ce.Reason, at: time.Now()}, s.rs.ttl)
		}
	}
	srv.mu.Unlock()
	s.attMu.Lock()
	if s.rs.parkTimer != nil {
		s.rs.parkTimer.Stop()
		s.rs.parkTimer = nil
	}
	s.attMu.Unlock()
}

// resume attaches conn to the parked (or still attached) session the HELLO's
// token names: the token must be known, unexpired and bound to principal.
func (srv *Server) resume(conn transport.Conn, principal string, h *helloMsg) (*Session, *attachment, error) {
	reject := func(reason string) error { return &ConnError{Code: CodeResumeRejected, Reason: reason} }
	key := tokenKey(h.Resume.Token)
	srv.mu.Lock()
	s := srv.resumable[key]
	closed, wasClosed := srv.closedTokens.get(key, time.Now())
	draining := srv.draining
	srv.mu.Unlock()
	switch {
	case draining:
		return nil, nil, &ConnError{Code: CodeGoingAway, Reason: "server shutting down"}
	case s == nil && wasClosed && closed.principal == principal:
		return nil, nil, &ConnError{Code: closed.code, Reason: "session was closed: " + closed.reason}
	case h.Resume.Token == "" || s == nil:
		return nil, nil, reject("unknown or expired resume token")
	case s.principal != principal:
		return nil, nil, reject("resume token belongs to another principal")
	case h.MaxFrame < s.maxFrame || h.MaxMessage < s.maxMessage:
		return nil, nil, reject(fmt.Sprintf("maxFrame %d / maxMessage %d below the session's %d / %d",
			h.MaxFrame, h.MaxMessage, s.maxFrame, s.maxMessage))
	}
	a, err := s.reattach(conn, func(mine *resumeInfo) (*resumeInfo, bool, error) {
		w := s.rs.welcome
		w.Resumed = mine
		w.Lanes = h.Lanes && s.cfg.offersLanes(conn)
		frame, err := marshalFrame(wire.TypeWelcome, w)
		if err != nil {
			return nil, false, err
		}
		if err := conn.WriteMessage(frame); err != nil {
			return nil, false, &ConnError{Code: CodeInternal, Reason: "handshake: send WELCOME", Err: err}
		}
		return h.Resume, w.Lanes, nil
	})
	if err != nil {
		return nil, nil, err
	}
	srv.log.Debug("session resumed", "session", s.id, "remote", conn.RemoteAddr())
	return s, a, nil
}

// parked starts the resume timer of s, which parked at generation gen, and
// ends the longest-parked session beyond MaxParkedSessions.
func (srv *Server) parked(s *Session, gen uint64) {
	s.attMu.Lock()
	if s.att != nil || s.gen != gen {
		s.attMu.Unlock()
		return // resumed meanwhile
	}
	if s.rs.parkTimer != nil {
		s.rs.parkTimer.Stop()
	}
	ttl := s.rs.ttl
	s.rs.parkTimer = time.AfterFunc(ttl, func() {
		s.attMu.Lock()
		still := s.att == nil && s.gen == gen
		s.attMu.Unlock()
		if still {
			s.shutdown(&ConnError{Code: CodeTimeout, Reason: fmt.Sprintf("not resumed within %v", ttl)}, false)
			srv.finish(s)
		}
	})
	s.attMu.Unlock()

	srv.mu.Lock()
	var oldest *Session
	var oldestAt time.Time
	n := 0
	for _, p := range srv.resumable {
		p.attMu.Lock()
		if p.att == nil && !p.rs.parked.IsZero() {
			n++
			if oldest == nil || p.rs.parked.Before(oldestAt) {
				oldest, oldestAt = p, p.rs.parked
			}
		}
		p.attMu.Unlock()
	}
	srv.mu.Unlock()
	if n > srv.maxParked() && oldest != nil {
		oldest.shutdown(&ConnError{Code: CodeTimeout, Reason: "too many parked sessions"}, false)
		go srv.finish(oldest)
	}
}

// closedSession is how a resumable session that was closed on purpose ended.
type closedSession struct {
	principal string
	code      Code
	reason    string
	at        time.Time
	ttl       time.Duration
}

// closedSessions remembers recently closed sessions by token key, at most
// closedCap of them, each for its resume TTL. Guarded by Server.mu.
type closedSessions struct {
	m     map[[32]byte]closedSession
	order [][32]byte
}

const closedCap = 4096

func (c *closedSessions) add(key [32]byte, v closedSession, ttl time.Duration) {
	if c.m == nil {
		c.m = make(map[[32]byte]closedSession)
	}
	v.ttl = ttl
	c.m[key] = v
	c.order = append(c.order, key)
	for len(c.order) > closedCap || len(c.order) > 0 && time.Since(c.m[c.order[0]].at) > c.m[c.order[0]].ttl {
		delete(c.m, c.order[0])
		c.order = c.order[1:]
	}
}

func (c *closedSessions) get(key [32]byte, now time.Time) (closedSession, bool) {
	v, ok := c.m[key]
	if !ok || now.Sub(v.at) > v.ttl {
		return closedSession{}, false
	}
	return v, true
}
