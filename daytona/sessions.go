package daytona

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	toolbox "github.com/daytonaio/daytona/libs/toolbox-api-client-go"

	"github.com/sandagent/sandagent"
)

// Session pool limits: how many idle sessions a handle keeps, and after how
// many commands or how much logged output a session is replaced (the daemon
// keeps every command's log until its session is deleted).
const (
	maxIdleSessions = 16
	retireRuns      = 256
	retireBytes     = 16 << 20
)

// sdkVersion is the SDK version sent when creating a session: the daemon
// starts the session shell in the work directory only for SDKs of 0.103 or
// later (older ones get the home directory).
const sdkVersion = "0.190.0"

// session is one toolbox session: one long-lived shell on the sandbox that
// runs its commands one after another.
type session struct {
	id     string
	runs   int
	logged int64
}

// sessions is a handle's pool of toolbox sessions. A command takes an idle
// session or creates one, so concurrent commands never queue behind each
// other in one session shell; a session returns to the pool once its
// command has ended.
type sessions struct {
	h      *handle
	mu     sync.Mutex
	idle   []*session
	bg     sync.WaitGroup
	ctx    context.Context // ended by close: background clean-up stops
	cancel context.CancelFunc
}

func newSessions(h *handle) *sessions {
	ctx, cancel := context.WithCancel(context.Background())
	return &sessions{h: h, ctx: ctx, cancel: cancel}
}

// get returns an idle session, or creates one.
func (ss *sessions) get(ctx context.Context) (*session, error) {
	ss.mu.Lock()
	if n := len(ss.idle); n > 0 {
		s := ss.idle[n-1]
		ss.idle = ss.idle[:n-1]
		ss.mu.Unlock()
		return s, nil
	}
	ss.mu.Unlock()
	s := &session{id: "sandagent-" + randomHex(8)}
	body, err := json.Marshal(toolbox.NewCreateSessionRequest(s.id))
	if err == nil {
		err = ss.h.postJSON(ctx, "exec", "/process/session", body, nil, map[string]string{"X-Daytona-SDK-Version": sdkVersion})
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}

// put returns s to the pool after a command that ended, or deletes it in
// the background when it has served enough or the pool is full.
func (ss *sessions) put(s *session) {
	ss.mu.Lock()
	if s.runs < retireRuns && s.logged < retireBytes && len(ss.idle) < maxIdleSessions && ss.ctx.Err() == nil {
		ss.idle = append(ss.idle, s)
		ss.mu.Unlock()
		return
	}
	ss.mu.Unlock()
	ss.drop(s)
}

// drop deletes s in the background.
func (ss *sessions) drop(s *session) {
	ss.bg.Add(1)
	go func() {
		defer ss.bg.Done()
		ss.kill(ss.ctx, s)
	}()
}

// kill deletes s, which ends its shell and its commands: the daemon sends
// SIGTERM to the session's process tree and SIGKILL after its grace period.
// It is bounded by ctx and 30 seconds.
func (ss *sessions) kill(ctx context.Context, s *session) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := ss.h.tb.ProcessAPI.DeleteSession(ctx, s.id).Execute()
	if err = ss.h.s.check("exec", resp, err); err != nil && !errors.Is(err, sandagent.ErrNotFound) && ss.h.s.logger != nil {
		ss.h.s.logger.Debug("sandagent: deleting a toolbox session failed", "provider", ProviderName, "session", s.id, "err", err)
	}
}

// settle returns s to the pool once the daemon reports cmdID's exit code:
// a command whose background children still hold its output open keeps its
// session busy until they end, and a busy session is never reused. A
// session that does not settle within a minute is left alone (deleting it
// would kill those children).
func (ss *sessions) settle(s *session, cmdID string) {
	ss.bg.Add(1)
	go func() {
		defer ss.bg.Done()
		ctx, cancel := context.WithTimeout(ss.ctx, time.Minute)
		defer cancel()
		pause := time.Millisecond
		for {
			cmd, resp, err := ss.h.tb.ProcessAPI.GetSessionCommand(ctx, s.id, cmdID).Execute()
			if err == nil && cmd.ExitCode != nil {
				ss.put(s)
				return
			}
			if err != nil && resp != nil && resp.StatusCode < 500 {
				return // the session is gone
			}
			t := time.NewTimer(pause)
			select {
			case <-t.C:
				pause = min(pause*2, time.Second)
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
	}()
}

// close deletes the idle sessions and waits for the background work.
func (ss *sessions) close() {
	ss.mu.Lock()
	idle := ss.idle
	ss.idle = nil
	ss.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ss.kill(ctx, s)
		}()
	}
	wg.Wait()
	ss.cancel()
	ss.bg.Wait()
}

// sessionGone reports whether err says the session can no longer run
// commands: the daemon restarted, or someone deleted it (404, or 500 for an
// exec it wraps), or its shell has exited (400, "failed to write command").
func sessionGone(err error) bool {
	var se *sandagent.Error
	return errors.As(err, &se) && (se.Status == http.StatusNotFound ||
		se.Status == http.StatusInternalServerError && strings.Contains(se.Message, "session not found") ||
		se.Status == http.StatusBadRequest && strings.Contains(se.Message, "failed to write command"))
}
