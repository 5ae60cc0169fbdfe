//go:build unix

package e2btest

import (
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sandagent/sandagent"
)

// The proxy's routing headers.
const (
	headerSandboxID   = "E2b-Sandbox-Id"
	headerSandboxPort = "E2b-Sandbox-Port"
)

type sandboxKey struct{}

// sandboxOf returns the sandbox a proxied request is for.
func sandboxOf(ctx context.Context) *sandbox { return ctx.Value(sandboxKey{}).(*sandbox) }

// proxyError is the JSON body of the proxy's 502 answers.
type proxyError struct {
	SandboxID string `json:"sandboxId"`
	Message   string `json:"message"`
	Port      uint64 `json:"port,omitempty"`
	Code      int    `json:"code"`
}

// proxy routes a request to envd of the sandbox its headers name, as E2B's
// proxy does for a localhost or IP host.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, envd http.Handler) {
	id, portStr := r.Header.Get(headerSandboxID), r.Header.Get(headerSandboxPort)
	if id == "" || portStr == "" {
		writeAPIError(w, http.StatusBadRequest, "missing header")
		return
	}
	port, err := strconv.ParseUint(portStr, 10, 64)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "Invalid sandbox port")
		return
	}
	if !idPattern.MatchString(id) {
		writeAPIError(w, http.StatusBadRequest, "Invalid sandbox ID")
		return
	}
	s.mu.Lock()
	s.expireLocked()
	sb := s.sandboxes[id]
	if sb != nil && sb.paused && sb.autoResume {
		s.resumeLocked(sb, sb.timeout)
	}
	running := sb != nil && !sb.paused
	s.mu.Unlock()
	switch {
	case !running:
		writeJSON(w, http.StatusBadGateway, proxyError{SandboxID: id, Message: "The sandbox was not found", Code: http.StatusBadGateway})
		return
	case port != envdPort:
		s.servePort(w, r, sb, port)
		return
	}
	// envd: without the access token only the health check and the file
	// routes (which then want the token or a signature) are open.
	open := r.Method+r.URL.Path == "GET/health" || r.URL.Path == "/files" && (r.Method == http.MethodGet || r.Method == http.MethodPost)
	if sb.secure && !open && !tokenEqual(r.Header.Get("X-Access-Token"), sb.accessToken()) {
		writeAPIError(w, http.StatusUnauthorized, "unauthorized access, please provide a valid access token or method signing if supported")
		return
	}
	envd.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sandboxKey{}, sb)))
}

func tokenEqual(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// checkSigning authorizes a /files request of a secure sandbox: the access
// token in X-Access-Token, or a signature of path, operation, user and
// token with an optional expiry (unix seconds, on the emulator's clock).
func (s *Server) checkSigning(r *http.Request, sb *sandbox, path, op string) error {
	if !sb.secure {
		return nil
	}
	if tok := r.Header.Get("X-Access-Token"); tok != "" {
		if !tokenEqual(tok, sb.accessToken()) {
			return errors.New("access token present in header but does not match")
		}
		return nil
	}
	q := r.URL.Query()
	if !q.Has("signature") {
		return errors.New("missing signature query parameter")
	}
	raw := strings.Join([]string{path, op, q.Get("username"), sb.accessToken()}, ":")
	exp := q.Get("signature_expiration")
	if exp != "" {
		raw += ":" + exp
	}
	sum := sha256.Sum256([]byte(raw))
	if !tokenEqual(q.Get("signature"), "v1_"+base64.RawStdEncoding.EncodeToString(sum[:])) {
		return errors.New("invalid signature")
	}
	if exp != "" {
		n, err := strconv.ParseInt(exp, 10, 64)
		if err != nil || n < s.Clock.Now().Unix() {
			return errors.New("signature is already expired")
		}
	}
	return nil
}

// checkUser accepts the users a sandbox has: "user" (the default) and "root".
func checkUser(name string) error {
	if name == "" || name == "user" || name == "root" {
		return nil
	}
	return fmt.Errorf("user: unknown user %s", name)
}

// resolvePath maps a path as envd takes it to an absolute path in the
// sandbox: empty is the home directory, "~" expands to it, and relative
// paths are relative to it.
func resolvePath(sb *sandbox, p string) (string, error) {
	home := sb.eng.Workdir()
	switch {
	case p == "":
		return home, nil
	case p[0] == '~':
		if len(p) > 1 && p[1] != '/' {
			return "", fmt.Errorf("failed to expand path '%s' for user 'user': cannot expand user-specific home dir", p)
		}
		return filepath.Join(home, p[1:]), nil
	case filepath.IsAbs(p):
		return filepath.Clean(p), nil
	}
	return filepath.Join(home, p), nil
}

func (s *Server) getFiles(w http.ResponseWriter, r *http.Request) {
	sb := sandboxOf(r.Context())
	q := r.URL.Query()
	path := q.Get("path")
	if err := s.checkSigning(r, sb, path, "read"); err != nil {
		writeAPIError(w, http.StatusUnauthorized, err.Error())
		return
	}
	if err := checkUser(q.Get("username")); err != nil {
		writeAPIError(w, http.StatusUnauthorized, fmt.Sprintf("error looking up user '%s': %v", q.Get("username"), err))
		return
	}
	p, err := resolvePath(sb, path)
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("error expanding and resolving path '%s': %v", path, err))
		return
	}
	fi, err := sb.eng.Stat(p)
	switch {
	case errors.Is(err, sandagent.ErrNotFound):
		writeAPIError(w, http.StatusNotFound, fmt.Sprintf("path '%s' does not exist", p))
		return
	case errors.Is(err, sandagent.ErrInvalid):
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("error expanding and resolving path '%s': %v", path, err))
		return
	case err != nil:
		writeAPIError(w, http.StatusInternalServerError, fmt.Sprintf("error checking if path exists '%s': %v", p, err))
		return
	case fi.Info.IsDir():
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("path '%s' is a directory", p))
		return
	}
	f, err := sb.eng.Open(p)
	if err != nil {
		writeAPIError(w, http.StatusInternalServerError, fmt.Sprintf("error opening file '%s': %v", p, err))
		return
	}
	defer f.Close()
	w.Header().Set("Vary", "Accept-Encoding")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": filepath.Base(p)}))
	rangeOrConditional := r.Header.Get("Range") != "" || r.Header.Get("If-Modified-Since") != "" ||
		r.Header.Get("If-None-Match") != "" || r.Header.Get("If-Range") != ""
	if !rangeOrConditional && wantsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", cmp.Or(mime.TypeByExtension(filepath.Ext(path)), "application/octet-stream"))
		gw := gzip.NewWriter(w)
		defer gw.Close()
		_, _ = io.Copy(gw, f)
		return
	}
	if rs, ok := f.(io.ReadSeeker); ok {
		http.ServeContent(w, r, path, fi.Info.ModTime(), rs)
		return
	}
	_, _ = io.Copy(w, f)
}

// wantsGzip reports whether envd would answer gzip to an Accept-Encoding:
// it takes the acceptable coding of highest quality, identity for "*".
func wantsGzip(header string) bool {
	type coding struct {
		name string
		q    float64
	}
	var cs []coding
	for v := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(v), ";")
		c := coding{name: strings.ToLower(strings.TrimSpace(name)), q: 1}
		if qv, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(qv, 64); err == nil {
				c.q = f
			}
		}
		cs = append(cs, c)
	}
	slices.SortStableFunc(cs, func(a, b coding) int { return cmp.Compare(b.q, a.q) })
	for _, c := range cs {
		if c.q > 0 && (c.name == "gzip" || c.name == "identity" || c.name == "*") {
			return c.name == "gzip"
		}
	}
	return false
}

// uploaded is envd's EntryInfo of a written file.
type uploaded struct {
	Path string `json:"path"`
	Name string `json:"name"`
	Type string `json:"type"`
}

func (s *Server) postFiles(w http.ResponseWriter, r *http.Request) {
	sb := sandboxOf(r.Context())
	q := r.URL.Query()
	path, hasPath := q.Get("path"), q.Has("path")
	if err := s.checkSigning(r, sb, path, "write"); err != nil {
		writeAPIError(w, http.StatusUnauthorized, err.Error())
		return
	}
	if err := checkUser(q.Get("username")); err != nil {
		writeAPIError(w, http.StatusUnauthorized, fmt.Sprintf("error looking up user '%s': %v", q.Get("username"), err))
		return
	}
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("error decompressing request body: failed to create gzip reader: %v", err))
			return
		}
		defer zr.Close()
		r.Body = zr
	default:
		writeAPIError(w, http.StatusBadRequest, fmt.Sprintf("error decompressing request body: unsupported Content-Encoding: %s, supported: [gzip]", enc))
		return
	}
	var (
		files  []uploaded
		status int
		err    error
	)
	ct := r.Header.Get("Content-Type")
	mediaType, _, _ := mime.ParseMediaType(ct)
	switch {
	case mediaType == "application/octet-stream":
		if !hasPath {
			writeAPIError(w, http.StatusBadRequest, "path query parameter is required for raw body upload")
			return
		}
		files, status, err = writeUpload(sb, nil, path, r.Body)
	case strings.HasPrefix(mediaType, "multipart/"):
		files, status, err = writeMultipart(sb, r, path, hasPath)
	default:
		status, err = http.StatusBadRequest, fmt.Errorf("unsupported content type: %s, expected multipart/form-data or application/octet-stream", ct)
	}
	if err != nil {
		writeAPIError(w, status, err.Error())
		return
	}
	b, _ := json.Marshal(files)
	w.WriteHeader(http.StatusOK) // envd sets no Content-Type here
	_, _ = w.Write(b)
}

func writeMultipart(sb *sandbox, r *http.Request, path string, hasPath bool) ([]uploaded, int, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, http.StatusInternalServerError, fmt.Errorf("error parsing multipart form: %w", err)
	}
	files := []uploaded{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return files, http.StatusOK, nil
		}
		if err != nil {
			return nil, http.StatusInternalServerError, fmt.Errorf("error reading form: %w", err)
		}
		if part.FormName() == "file" {
			target := path
			if !hasPath {
				// The part's file name with its directories: Part.FileName
				// keeps only the base.
				_, params, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
				target = params["filename"]
			}
			var status int
			files, status, err = writeUpload(sb, files, target, part)
			if err != nil {
				part.Close()
				return nil, status, err
			}
		}
		part.Close()
	}
}

// writeUpload streams r to the file at path and appends its entry to files.
func writeUpload(sb *sandbox, files []uploaded, path string, r io.Reader) ([]uploaded, int, error) {
	p, err := resolvePath(sb, path)
	if err == nil {
		_, err = sb.eng.Resolve(p, false)
	}
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("error resolving path: %w", err)
	}
	for _, f := range files {
		if f.Path == p {
			return nil, http.StatusBadRequest, fmt.Errorf("you cannot upload multiple files to the same path '%s' in one upload request, only the first specified file was uploaded", p)
		}
	}
	if err := sb.eng.Write(p, r); err != nil {
		switch {
		case errors.Is(err, sandagent.ErrInvalid):
			return nil, http.StatusBadRequest, fmt.Errorf("path is a directory: %s", p)
		case errors.Is(err, sandagent.ErrState):
			return nil, http.StatusInsufficientStorage, errors.New("not enough disk space available")
		}
		return nil, http.StatusInternalServerError, fmt.Errorf("error writing file: %w", err)
	}
	return append(files, uploaded{Path: p, Name: filepath.Base(p), Type: "file"}), http.StatusOK, nil
}

func (s *Server) getEnvs(w http.ResponseWriter, r *http.Request) {
	env := sandboxOf(r.Context()).envVars
	if env == nil {
		env = map[string]string{}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(env)
}
