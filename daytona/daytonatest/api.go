//go:build unix

package daytonatest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sandagent/sandagent/internal/engine"
)

// The Daytona sandbox states the emulator uses.
const (
	stateCreating     = "creating"
	stateStarted      = "started"
	stateStarting     = "starting"
	stateStopping     = "stopping"
	stateStopped      = "stopped"
	stateArchiving    = "archiving"
	stateArchived     = "archived"
	stateRestoring    = "restoring"
	stateDestroying   = "destroying"
	stateDestroyed    = "destroyed"
	stateError        = "error"
	statePendingBuild = "pending_build"
)

type transition struct {
	to    string
	at    time.Time
	polls int
}

type mount struct {
	VolumeID  string `json:"volumeId"`
	MountPath string `json:"mountPath"`
	Subpath   string `json:"subpath,omitempty"`
}

type sandbox struct {
	id, name, user, snapshot, target string
	env, labels                      map[string]string
	public, networkBlockAll          bool
	networkAllowList                 *string
	cpu, gpu, memory, disk           int
	state                            string
	errorReason                      *string
	recoverable                      bool
	autoStop, autoArchive, autoDel   int
	volumes                          []mount
	createdAt, updatedAt, activity   time.Time
	stoppedAt                        time.Time
	madeAt                           time.Time // real time, for Faults.Listed
	pending                          *transition
	eng                              *engine.Sandbox
	sessions                         map[string]*session
}

type volume struct {
	id, name, state      string
	createdAt, updatedAt time.Time
	pending              *transition
	hostDir              string
}

func (s *Server) routeAPI(m *http.ServeMux) {
	m.HandleFunc("GET /api/sandbox", s.listSandboxes)
	m.HandleFunc("POST /api/sandbox", s.createSandbox)
	m.HandleFunc("GET /api/sandbox/{id}", s.getSandbox)
	m.HandleFunc("DELETE /api/sandbox/{id}", s.deleteSandbox)
	m.HandleFunc("POST /api/sandbox/{id}/start", s.startSandbox)
	m.HandleFunc("POST /api/sandbox/{id}/stop", s.stopSandbox)
	m.HandleFunc("POST /api/sandbox/{id}/archive", s.archiveSandbox)
	m.HandleFunc("POST /api/sandbox/{id}/recover", s.recoverSandbox)
	m.HandleFunc("POST /api/sandbox/{id}/resize", s.resizeSandbox)
	m.HandleFunc("PUT /api/sandbox/{id}/labels", s.replaceLabels)
	m.HandleFunc("POST /api/sandbox/{id}/autostop/{n}", s.setInterval(func(sb *sandbox, n int) { sb.autoStop = n }, 0))
	m.HandleFunc("POST /api/sandbox/{id}/autoarchive/{n}", s.setInterval(func(sb *sandbox, n int) {
		if n == 0 || n > 43200 {
			n = 43200 // 0 means the maximum, 30 days
		}
		sb.autoArchive = n
	}, 0))
	m.HandleFunc("POST /api/sandbox/{id}/autodelete/{n}", s.setInterval(func(sb *sandbox, n int) { sb.autoDel = n }, -1<<31))
	m.HandleFunc("POST /api/sandbox/{id}/public/{on}", s.setPublic)
	m.HandleFunc("GET /api/sandbox/{id}/toolbox-proxy-url", s.toolboxProxyURL)
	m.HandleFunc("GET /api/volumes", s.listVolumes)
	m.HandleFunc("POST /api/volumes", s.createVolume)
	m.HandleFunc("GET /api/volumes/{id}", s.getVolume)
	m.HandleFunc("GET /api/volumes/by-name/{name}", s.getVolumeByName)
	m.HandleFunc("DELETE /api/volumes/{id}", s.deleteVolume)
}

func (s *Server) now() time.Time { return s.Clock.Now() }

// begin starts an asynchronous transition: the sandbox shows mid until it
// completes to `to`.
func (s *Server) begin(sb *sandbox, mid, to string) {
	sb.state, sb.updatedAt = mid, s.now()
	sb.pending = &transition{to: to, at: s.now().Add(s.transition), polls: s.polls}
}

// settle applies whatever the clock (and, when poll is set, one more read)
// completes. It reports false when the sandbox is gone. The caller holds mu.
func (s *Server) settle(sb *sandbox, poll bool) bool {
	now := s.now()
	if p := sb.pending; p != nil {
		if poll && s.polls > 0 {
			p.polls--
		}
		if !now.Before(p.at) || (s.polls > 0 && p.polls <= 0) {
			s.finish(sb, p.to, now)
		}
	}
	if sb.pending == nil {
		switch {
		case sb.state == stateStarted && sb.autoStop > 0 && !now.Before(sb.activity.Add(minutes(sb.autoStop))):
			s.finish(sb, stateStopped, sb.activity.Add(minutes(sb.autoStop)))
		}
		switch {
		case sb.state == stateStopped && sb.autoDel >= 0 && !now.Before(sb.stoppedAt.Add(minutes(sb.autoDel))):
			s.finish(sb, stateDestroyed, now)
		case sb.state == stateStopped && sb.autoArchive > 0 && !now.Before(sb.stoppedAt.Add(minutes(sb.autoArchive))):
			s.finish(sb, stateArchived, now)
		}
	}
	return sb.state != stateDestroyed
}

func minutes(n int) time.Duration { return time.Duration(n) * time.Minute }

// finish puts sb in state `to`, doing what that means to its processes.
func (s *Server) finish(sb *sandbox, to string, at time.Time) {
	sb.pending = nil
	switch to {
	case stateStarted:
		if sb.eng != nil {
			_ = sb.eng.Start()
		}
		sb.activity = s.now()
		sb.errorReason = nil
	case stateStopped, stateArchived, stateError:
		sb.killSessions()
		if sb.eng != nil {
			_ = sb.eng.Stop()
		}
		if sb.state != stateStopped && to != stateError {
			sb.stoppedAt = at
		}
	case stateDestroyed:
		sb.killSessions()
		if sb.eng != nil {
			_ = sb.eng.Destroy()
		}
		delete(s.sandboxes, sb.id)
	}
	sb.state, sb.updatedAt = to, s.now()
}

// find returns the sandbox with id, else the one named idOrName, settled.
// The caller holds mu.
func (s *Server) find(idOrName string, poll bool) *sandbox {
	sb := s.sandboxes[idOrName]
	if sb == nil {
		for _, c := range s.sandboxes {
			if c.name == idOrName {
				sb = c
				break
			}
		}
	}
	if sb == nil || !s.settle(sb, poll) {
		return nil
	}
	return sb
}

// withSandbox runs fn on the sandbox the request names, or answers 404.
func (s *Server) withSandbox(w http.ResponseWriter, r *http.Request, poll bool, fn func(sb *sandbox)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	sb := s.find(id, poll)
	if sb == nil {
		writeAPIErrorPath(w, r.URL.Path, http.StatusNotFound, fmt.Sprintf("Sandbox with ID or name %s not found", id))
		return
	}
	fn(sb)
}

func (s *Server) view(sb *sandbox, full bool) map[string]any {
	vols := make([]mount, len(sb.volumes))
	copy(vols, sb.volumes)
	v := map[string]any{
		"id":                  sb.id,
		"organizationId":      s.OrganizationID,
		"name":                sb.name,
		"snapshot":            sb.snapshot,
		"user":                sb.user,
		"labels":              cloneMap(sb.labels),
		"public":              sb.public,
		"networkBlockAll":     sb.networkBlockAll,
		"target":              sb.target,
		"cpu":                 sb.cpu,
		"gpu":                 sb.gpu,
		"memory":              sb.memory,
		"disk":                sb.disk,
		"state":               sb.state,
		"desiredState":        desired(sb),
		"backupState":         "None",
		"autoStopInterval":    sb.autoStop,
		"autoArchiveInterval": sb.autoArchive,
		"autoDeleteInterval":  sb.autoDel,
		"createdAt":           stamp(sb.createdAt),
		"updatedAt":           stamp(sb.updatedAt),
		"lastActivityAt":      stamp(sb.activity),
		"sandboxClass":        "container",
		"daemonVersion":       "v0.190.0",
		"runnerId":            "runner-emulator",
		"toolboxProxyUrl":     s.ToolboxURL(),
	}
	if sb.errorReason != nil {
		v["errorReason"] = *sb.errorReason
		v["recoverable"] = sb.recoverable
	}
	if full {
		v["env"] = cloneMap(sb.env)
		v["volumes"] = vols
		if sb.networkAllowList != nil {
			v["networkAllowList"] = *sb.networkAllowList
		}
	}
	return v
}

func desired(sb *sandbox) string {
	if sb.pending != nil {
		return map[string]string{stateStarted: "started", stateStopped: "stopped", stateArchived: "archived", stateDestroyed: "destroyed"}[sb.pending.to]
	}
	switch sb.state {
	case stateStopped, stateArchived, stateDestroyed:
		return sb.state
	}
	return "started"
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

type createSandbox struct {
	Name                string            `json:"name"`
	Snapshot            string            `json:"snapshot"`
	User                string            `json:"user"`
	Env                 map[string]string `json:"env"`
	Labels              map[string]string `json:"labels"`
	Public              bool              `json:"public"`
	NetworkBlockAll     bool              `json:"networkBlockAll"`
	NetworkAllowList    *string           `json:"networkAllowList"`
	Target              string            `json:"target"`
	CPU                 int               `json:"cpu"`
	GPU                 int               `json:"gpu"`
	GPUType             []string          `json:"gpuType"`
	Memory              int               `json:"memory"`
	Disk                int               `json:"disk"`
	AutoStopInterval    *int              `json:"autoStopInterval"`
	AutoArchiveInterval *int              `json:"autoArchiveInterval"`
	AutoDeleteInterval  *int              `json:"autoDeleteInterval"`
	Volumes             []mount           `json:"volumes"`
	BuildInfo           *struct {
		DockerfileContent string `json:"dockerfileContent"`
	} `json:"buildInfo"`
}

func (s *Server) createSandbox(w http.ResponseWriter, r *http.Request) {
	var req createSandbox
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, "Invalid request body: "+err.Error())
		return
	}
	fail := func(status int, format string, args ...any) {
		writeAPIErrorPath(w, r.URL.Path, status, fmt.Sprintf(format, args...))
	}
	switch {
	case req.BuildInfo != nil && req.Snapshot != "":
		fail(http.StatusBadRequest, "Cannot specify a snapshot when using a build info entry")
		return
	case req.BuildInfo == nil && (req.CPU != 0 || req.GPU != 0 || req.Memory != 0 || req.Disk != 0 || len(req.GPUType) > 0):
		fail(http.StatusBadRequest, "Cannot specify Sandbox resources when using a snapshot")
		return
	case req.NetworkAllowList != nil && !validAllowList(*req.NetworkAllowList):
		fail(http.StatusBadRequest, "Invalid networkAllowList: want at most 10 comma-separated IPv4 CIDRs")
		return
	}
	for _, v := range []*int{req.AutoStopInterval, req.AutoArchiveInterval} {
		if v != nil && *v < 0 {
			fail(http.StatusBadRequest, "Interval must be a non-negative integer")
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	id := newID()
	name := req.Name
	if name == "" {
		name = id
	}
	if s.find(name, false) != nil {
		fail(http.StatusConflict, "Sandbox with name %s already exists", name)
		return
	}
	var engVols []engine.Volume
	homeVol := ""
	// Sandboxes stay confined to a host directory for now: the sessions'
	// command files and FIFOs live in the emulator's directory, which a
	// sandbox with a root of its own (and its own /tmp) does not see. They
	// belong in $HOME/.daytona/sessions inside the sandbox, as the daemon
	// keeps them; until then Root is declared missing for Daytona.
	rooted := false
	mounts := make([]mount, 0, len(req.Volumes))
	for _, m := range req.Volumes {
		v := s.findVolume(m.VolumeID, false)
		if v == nil {
			fail(http.StatusNotFound, "Volume '%s' not found", m.VolumeID)
			return
		}
		if v.state != "ready" {
			fail(http.StatusBadRequest, "Volume '%s' is not in a ready state. Current state: %s", m.VolumeID, v.state)
			return
		}
		if msg := checkMountPath(m.MountPath); msg != "" {
			fail(http.StatusBadRequest, "%s", msg)
			return
		}
		host := v.hostDir
		if m.Subpath != "" {
			host = filepath.Join(host, filepath.FromSlash(m.Subpath))
		}
		if rooted { // a root of its own: volumes are mounted at their paths
			engVols = append(engVols, engine.Volume{HostDir: host, MountPath: path.Clean(m.MountPath)})
		} else if rel := relMount(m.MountPath); rel == "" {
			homeVol = host
		} else {
			engVols = append(engVols, engine.Volume{HostDir: host, MountPath: rel})
		}
		mounts = append(mounts, mount{VolumeID: v.id, MountPath: m.MountPath, Subpath: m.Subpath})
	}
	labels := cloneMap(req.Labels)
	esb, err := s.eng.Create(engine.Spec{ID: id, Name: name, Env: req.Env, Labels: labels, Volumes: engVols, Home: Home, Confined: !rooted}, s.Clock.Now)
	if err == nil && homeVol != "" {
		err = mountHome(esb, homeVol, engVols)
	}
	if err != nil {
		if esb != nil {
			_ = esb.Destroy()
		}
		fail(http.StatusInternalServerError, "An unexpected error occurred.")
		return
	}
	now := s.now()
	sb := &sandbox{
		id: id, name: name, user: or(req.User, "daytona"), snapshot: or(req.Snapshot, "daytonaio/sandbox:0.5.0"),
		target: or(req.Target, "us"), env: cloneMap(req.Env), labels: labels,
		public: req.Public, networkBlockAll: req.NetworkBlockAll, networkAllowList: req.NetworkAllowList,
		cpu: 1, memory: 1, disk: 3, autoStop: 15, autoArchive: 10080, autoDel: -1,
		volumes: mounts, createdAt: now, updatedAt: now, activity: now, state: stateStarted,
		eng: esb, sessions: map[string]*session{}, madeAt: time.Now(),
	}
	if req.BuildInfo != nil {
		sb.snapshot = ""
		sb.cpu, sb.gpu, sb.memory, sb.disk = max(req.CPU, 1), req.GPU, max(req.Memory, 1), max(req.Disk, 3)
	}
	if req.AutoStopInterval != nil {
		sb.autoStop = *req.AutoStopInterval
	}
	if req.AutoArchiveInterval != nil && *req.AutoArchiveInterval > 0 {
		sb.autoArchive = *req.AutoArchiveInterval
	}
	if req.AutoDeleteInterval != nil {
		sb.autoDel = *req.AutoDeleteInterval
	}
	s.sandboxes[id] = sb
	if req.BuildInfo != nil {
		s.begin(sb, statePendingBuild, stateStarted)
	}
	writeJSON(w, http.StatusOK, s.view(sb, true))
}

// relMount maps a mount path to the emulated sandbox's work tree: "" for the
// nominal home itself, else the path relative to it (or to /).
func relMount(p string) string {
	p = path.Clean(p)
	if p == Home {
		return ""
	}
	if rel, ok := strings.CutPrefix(p, Home+"/"); ok {
		return rel
	}
	return strings.TrimPrefix(p, "/")
}

// mountHome makes the volume directory host the sandbox's work tree: the
// engine's work directory becomes a link to it.
func mountHome(esb *engine.Sandbox, host string, others []engine.Volume) error {
	work := esb.Workdir()
	if err := os.MkdirAll(host, 0o755); err != nil {
		return err
	}
	if err := os.RemoveAll(work); err != nil { // holds only the other mounts' links
		return err
	}
	if err := os.Symlink(host, work); err != nil {
		return err
	}
	for _, v := range others {
		link := filepath.Join(host, v.MountPath)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(v.HostDir, link); err != nil {
			return err
		}
	}
	return nil
}

func checkMountPath(p string) string {
	if !strings.HasPrefix(p, "/") || p == "/" || strings.Contains(p, "//") {
		return fmt.Sprintf("Invalid mount path %s: must be an absolute path other than /, without consecutive slashes", p)
	}
	for _, part := range strings.Split(p[1:], "/") {
		if part == "." || part == ".." {
			return fmt.Sprintf("Invalid mount path %s: must not contain . or .. components", p)
		}
	}
	for _, bad := range []string{"/proc", "/sys", "/dev", "/boot", "/etc", "/bin", "/sbin", "/lib", "/lib64"} {
		if p == bad || strings.HasPrefix(p, bad+"/") {
			return fmt.Sprintf("Invalid mount path %s: cannot mount under %s", p, bad)
		}
	}
	return ""
}

func validAllowList(s string) bool {
	parts := strings.Split(s, ",")
	if len(parts) > 10 {
		return false
	}
	for _, p := range parts {
		ip, _, err := net.ParseCIDR(strings.TrimSpace(p))
		if err != nil || ip.To4() == nil {
			return false
		}
	}
	return true
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (s *Server) getSandbox(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, true, func(sb *sandbox) { writeJSON(w, http.StatusOK, s.view(sb, true)) })
}

// listSandboxes answers GET /sandbox: newest first (createdAt, then id,
// descending), limit per page (default 100, 1 to 200), and nextCursor, an
// opaque token naming the last item of the page, or null on the last page.
// Filters: labels (a JSON object; every pair must match), states, and the
// id and name prefixes (case-insensitive). Other parameters are accepted
// and ignored; includeErroredDeleted has nothing to include, as the
// emulator never leaves a failed deletion behind.
func (s *Server) listSandboxes(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bad := func(msg string) { writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, msg) }
	var want map[string]string
	if l := q.Get("labels"); l != "" {
		if err := json.Unmarshal([]byte(l), &want); err != nil {
			bad("Invalid labels JSON format")
			return
		}
	}
	limit := 100
	if l := q.Get("limit"); l != "" {
		f, err := strconv.ParseFloat(l, 64)
		if err != nil || f != float64(int(f)) || f < 1 || f > 200 {
			bad("limit must be an integer from 1 to 200")
			return
		}
		limit = int(f)
	}
	var after *listKey
	if c := q.Get("cursor"); c != "" {
		k, ok := parseCursor(c)
		if !ok {
			bad("Invalid cursor")
			return
		}
		after = &k
	}
	states := q["states"]
	name, idPrefix := strings.ToLower(q.Get("name")), strings.ToLower(q.Get("id"))
	s.mu.Lock()
	defer s.mu.Unlock()
	var match []*sandbox
	for _, sb := range s.sandboxes {
		if !s.settle(sb, false) || !s.Faults.Listed(sb.madeAt) || !strings.HasPrefix(strings.ToLower(sb.name), name) || !strings.HasPrefix(strings.ToLower(sb.id), idPrefix) {
			continue
		}
		if len(states) > 0 && !contains(states, sb.state) {
			continue
		}
		ok := true
		for k, v := range want {
			ok = ok && sb.labels[k] == v
		}
		if ok && (after == nil || after.before(keyOf(sb))) {
			match = append(match, sb)
		}
	}
	sort.Slice(match, func(i, j int) bool { return keyOf(match[i]).before(keyOf(match[j])) })
	items := []map[string]any{}
	var next any // null: the last page
	for i, sb := range match {
		if i == limit {
			next = keyOf(match[i-1]).cursor()
			break
		}
		items = append(items, s.view(sb, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "nextCursor": next})
}

// listKey orders the list: newest first, then by id, descending.
type listKey struct {
	created time.Time
	id      string
}

func keyOf(sb *sandbox) listKey { return listKey{sb.createdAt, sb.id} }

// before reports whether k comes before o in the list (is newer).
func (k listKey) before(o listKey) bool {
	if !k.created.Equal(o.created) {
		return k.created.After(o.created)
	}
	return k.id > o.id
}

func (k listKey) cursor() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(k.created.UnixNano(), 10) + ":" + k.id))
}

func parseCursor(c string) (listKey, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return listKey{}, false
	}
	ns, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil || id == "" {
		return listKey{}, false
	}
	return listKey{time.Unix(0, n), id}, true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (s *Server) deleteSandbox(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, false, func(sb *sandbox) {
		if sb.state == stateDestroying { // pending, as on Daytona
			writeAPIErrorPath(w, r.URL.Path, http.StatusConflict, "Sandbox state change in progress")
			return
		}
		// The name is free at once, as on Daytona.
		sb.name = fmt.Sprintf("DESTROYED_%s_%d", sb.name, s.now().UnixMilli())
		sb.killSessions()
		if sb.eng != nil {
			_ = sb.eng.Stop()
		}
		s.begin(sb, stateDestroying, stateDestroyed)
		writeJSON(w, http.StatusOK, s.view(sb, true))
	})
}

func (s *Server) startSandbox(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, false, func(sb *sandbox) {
		switch {
		case sb.state == stateStarted:
		case sb.pending != nil:
			writeAPIErrorPath(w, r.URL.Path, http.StatusConflict, "Sandbox state change in progress")
			return
		case sb.state == stateStopped:
			s.begin(sb, stateStarting, stateStarted)
		case sb.state == stateArchived:
			s.begin(sb, stateRestoring, stateStarted)
		default:
			writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, "Sandbox is not in valid state")
			return
		}
		writeJSON(w, http.StatusOK, s.view(sb, true))
	})
}

func (s *Server) stopSandbox(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, false, func(sb *sandbox) {
		if sb.state != stateStarted || sb.pending != nil {
			writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, "Sandbox is not in a stoppable state")
			return
		}
		s.begin(sb, stateStopping, stateStopped)
		writeJSON(w, http.StatusOK, s.view(sb, true))
	})
}

func (s *Server) archiveSandbox(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, false, func(sb *sandbox) {
		if sb.state != stateStopped {
			writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, "Sandbox is not stopped")
			return
		}
		if sb.autoDel == 0 {
			writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, "Ephemeral sandboxes cannot be archived")
			return
		}
		s.begin(sb, stateArchiving, stateArchived)
		writeJSON(w, http.StatusOK, s.view(sb, true))
	})
}

func (s *Server) recoverSandbox(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, false, func(sb *sandbox) {
		if sb.state != stateError || !sb.recoverable {
			writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, "Sandbox is not in a recoverable state")
			return
		}
		s.begin(sb, stateStarting, stateStarted)
		writeJSON(w, http.StatusOK, s.view(sb, true))
	})
}

func (s *Server) resizeSandbox(w http.ResponseWriter, r *http.Request) {
	var req struct{ CPU, Memory, Disk *int }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, "Invalid request body")
		return
	}
	s.withSandbox(w, r, false, func(sb *sandbox) {
		bad := func(msg string) { writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, msg) }
		switch {
		case sb.state != stateStarted && sb.state != stateStopped:
			bad("Sandbox must be started or stopped to resize")
			return
		case req.Disk != nil && sb.state != stateStopped:
			bad("Disk can only be resized when the sandbox is stopped")
			return
		case req.Disk != nil && *req.Disk < sb.disk:
			bad("Disk size can only be increased")
			return
		}
		for _, p := range []struct {
			v   *int
			dst *int
		}{{req.CPU, &sb.cpu}, {req.Memory, &sb.memory}, {req.Disk, &sb.disk}} {
			if p.v == nil {
				continue
			}
			if *p.v < 1 {
				bad("Resources must be at least 1")
				return
			}
			if *p.v < *p.dst && sb.state != stateStopped {
				bad("Resources can only be decreased when the sandbox is stopped")
				return
			}
		}
		if req.CPU != nil {
			sb.cpu = *req.CPU
		}
		if req.Memory != nil {
			sb.memory = *req.Memory
		}
		if req.Disk != nil {
			sb.disk = *req.Disk
		}
		sb.updatedAt = s.now()
		writeJSON(w, http.StatusOK, s.view(sb, true))
	})
}

func (s *Server) replaceLabels(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Labels map[string]string `json:"labels"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Labels == nil {
		writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, "labels must be an object")
		return
	}
	s.withSandbox(w, r, false, func(sb *sandbox) {
		sb.labels, sb.updatedAt = cloneMap(req.Labels), s.now()
		writeJSON(w, http.StatusCreated, map[string]any{"labels": cloneMap(sb.labels)})
	})
}

// setInterval answers the autostop/autoarchive/autodelete calls: 201 (the
// controller has no @HttpCode), values below lowest are 400.
func (s *Server) setInterval(set func(*sandbox, int), lowest int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.PathValue("n"))
		if err != nil || n < lowest {
			writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, "Invalid interval")
			return
		}
		s.withSandbox(w, r, false, func(sb *sandbox) {
			set(sb, n)
			sb.updatedAt = s.now()
			w.WriteHeader(http.StatusCreated)
		})
	}
}

func (s *Server) setPublic(w http.ResponseWriter, r *http.Request) {
	on, err := strconv.ParseBool(r.PathValue("on"))
	if err != nil {
		writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, "Invalid isPublic")
		return
	}
	s.withSandbox(w, r, false, func(sb *sandbox) {
		sb.public = on
		w.WriteHeader(http.StatusCreated)
	})
}

func (s *Server) toolboxProxyURL(w http.ResponseWriter, r *http.Request) {
	s.withSandbox(w, r, false, func(*sandbox) {
		writeJSON(w, http.StatusOK, map[string]any{"url": s.ToolboxURL()})
	})
}

// SetState puts the sandbox with id or name idOrName in state, as if
// Daytona had; with then set, the sandbox moves on to then asynchronously,
// like a transition the API started. It reports whether the sandbox exists.
func (s *Server) SetState(idOrName, state, then string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := s.find(idOrName, false)
	if sb == nil {
		return false
	}
	switch state {
	case stateStarted:
		s.finish(sb, stateStarted, s.now())
	case stateStopped, stateArchived, stateError, stateDestroyed:
		s.finish(sb, state, s.now())
	default:
		sb.killSessions()
		if sb.eng != nil {
			_ = sb.eng.Stop()
		}
		sb.state, sb.pending = state, nil
	}
	if then != "" && state != stateDestroyed {
		s.begin(sb, state, then)
	}
	return true
}

// SetError puts the sandbox in the error state with reason; a recoverable
// one can be recovered with POST /sandbox/{id}/recover.
func (s *Server) SetError(idOrName, reason string, recoverable bool) bool {
	if !s.SetState(idOrName, stateError, "") {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := s.find(idOrName, false)
	sb.errorReason, sb.recoverable = &reason, recoverable
	return true
}

// State returns the state of the sandbox with id or name idOrName, after
// applying the Clock, or "" if there is none. It does not count as a read.
func (s *Server) State(idOrName string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sb := s.find(idOrName, false); sb != nil {
		return sb.state
	}
	return ""
}

// Labels returns the labels of the sandbox with id or name idOrName.
func (s *Server) Labels(idOrName string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sb := s.find(idOrName, false); sb != nil {
		return cloneMap(sb.labels)
	}
	return nil
}

// Sandboxes returns the ids of the sandboxes that are not destroyed.
func (s *Server) Sandboxes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, sb := range s.sandboxes {
		if s.settle(sb, false) && sb.state != stateDestroying {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Volumes.

func (s *Server) settleVolume(v *volume, poll bool) bool {
	if p := v.pending; p != nil {
		if poll && s.polls > 0 {
			p.polls--
		}
		if !s.now().Before(p.at) || (s.polls > 0 && p.polls <= 0) {
			v.state, v.pending, v.updatedAt = p.to, nil, s.now()
			if p.to == "deleted" {
				_ = os.RemoveAll(v.hostDir)
				delete(s.volumes, v.id)
				return false
			}
		}
	}
	return true
}

func (s *Server) findVolume(idOrName string, poll bool) *volume {
	v := s.volumes[idOrName]
	if v == nil {
		for _, c := range s.volumes {
			if c.name == idOrName {
				v = c
				break
			}
		}
	}
	if v == nil || !s.settleVolume(v, poll) {
		return nil
	}
	return v
}

func (s *Server) volumeView(v *volume) map[string]any {
	return map[string]any{
		"id": v.id, "name": v.name, "organizationId": s.OrganizationID, "state": v.state,
		"createdAt": stamp(v.createdAt), "updatedAt": stamp(v.updatedAt),
		"lastUsedAt": nil, "errorReason": nil,
	}
}

func (s *Server) listVolumes(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, v := range s.volumes {
		if s.settleVolume(v, false) {
			out = append(out, s.volumeView(v))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["name"].(string) < out[j]["name"].(string) })
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) createVolume(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" {
		writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, "name should not be empty")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.volumes {
		if v.name == req.Name && s.settleVolume(v, false) {
			writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, fmt.Sprintf("Volume with name %s already exists", req.Name))
			return
		}
	}
	id := newID()
	host := filepath.Join(s.dir, "volumes", id)
	if err := os.MkdirAll(host, 0o755); err != nil {
		writeAPIErrorPath(w, r.URL.Path, http.StatusInternalServerError, "An unexpected error occurred.")
		return
	}
	now := s.now()
	v := &volume{id: id, name: req.Name, state: "pending_create", createdAt: now, updatedAt: now, hostDir: host,
		pending: &transition{to: "ready", at: now.Add(s.transition / 2), polls: s.polls}}
	s.volumes[id] = v
	writeJSON(w, http.StatusOK, s.volumeView(v))
}

func (s *Server) getVolume(w http.ResponseWriter, r *http.Request) {
	s.answerVolume(w, r, r.PathValue("id"), "Volume with ID %s not found")
}

func (s *Server) getVolumeByName(w http.ResponseWriter, r *http.Request) {
	s.answerVolume(w, r, r.PathValue("name"), "Volume with name %s not found")
}

func (s *Server) answerVolume(w http.ResponseWriter, r *http.Request, key, notFound string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.findVolume(key, true)
	if v == nil {
		writeAPIErrorPath(w, r.URL.Path, http.StatusNotFound, fmt.Sprintf(notFound, key))
		return
	}
	writeJSON(w, http.StatusOK, s.volumeView(v))
}

func (s *Server) deleteVolume(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	v := s.volumes[id]
	if v == nil || !s.settleVolume(v, false) {
		writeAPIErrorPath(w, r.URL.Path, http.StatusNotFound, fmt.Sprintf("Volume with ID %s not found", id))
		return
	}
	if v.state != "ready" && v.state != "error" {
		writeAPIErrorPath(w, r.URL.Path, http.StatusBadRequest, fmt.Sprintf("Volume must be in 'ready' or 'error' state in order to be deleted (current: %s)", v.state))
		return
	}
	for _, sb := range s.sandboxes {
		if !s.settle(sb, false) || sb.state == stateDestroying {
			continue
		}
		for _, m := range sb.volumes {
			if m.VolumeID == v.id {
				writeAPIErrorPath(w, r.URL.Path, http.StatusConflict, fmt.Sprintf("Volume %s is in use by one or more sandboxes", v.name))
				return
			}
		}
	}
	v.state, v.updatedAt = "pending_delete", s.now()
	v.pending = &transition{to: "deleted", at: s.now().Add(s.transition / 2), polls: s.polls}
	w.WriteHeader(http.StatusOK)
}
