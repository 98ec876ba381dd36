package demorp

import (
	"errors"
	"sync"
	"time"
)

// sessionTTL is how long the demo remembers a sign-in.
const sessionTTL = time.Hour

// maxSessions bounds the memory the demo's sessions can take.
const maxSessions = 1000

// session is one signed-in browser. The ID token is kept only as the
// id_token_hint of the sign-out; the pages show the claims.
type session struct {
	idToken          string
	claims, userinfo string
	csrf             string
	expires          time.Time
}

// sessions is an in-memory map from a random cookie value to a session: a
// demonstration only, lost on restart and not shared between processes. A
// real application keeps sessions in its own store.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func newSessions() *sessions { return &sessions{m: map[string]*session{}} }

// add keeps s for sessionTTL and returns its key.
func (ss *sessions) add(s session) (string, error) {
	now := time.Now()
	s.expires = now.Add(sessionTTL)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxSessions {
		for k, v := range ss.m {
			if now.After(v.expires) {
				delete(ss.m, k)
			}
		}
	}
	if len(ss.m) >= maxSessions {
		return "", errors.New("too many demo sessions")
	}
	id := randomString()
	ss.m[id] = &s
	return id, nil
}

// get returns the live session with key id, or nil.
func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s := ss.m[id]
	if s == nil || time.Now().After(s.expires) {
		delete(ss.m, id)
		return nil
	}
	return s
}

func (ss *sessions) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, id)
}
