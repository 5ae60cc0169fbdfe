package mcpserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sandagent/sandagent"
)

// maxTimeout bounds exec's timeout argument, so that it converts to a
// time.Duration without overflow.
const maxTimeout = 7 * 24 * time.Hour

func (s *Server) addTools() {
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true}
	destructive := true
	mcp.AddTool(s.srv, &mcp.Tool{
		Name:  "exec",
		Title: "Run a command",
		Description: "Run a shell command line in the sandbox and return its stdout, stderr and exit code. " +
			"A non-zero exit code or a timeout is reported in the result, not as an error.",
	}, s.exec)
	mcp.AddTool(s.srv, &mcp.Tool{
		Name:        "read_file",
		Title:       "Read a file",
		Description: "Read a file in the sandbox: as text when it is UTF-8, else base64. A long file is returned in parts: the result says from which offset to go on.",
		Annotations: readOnly,
	}, s.readFile)
	mcp.AddTool(s.srv, &mcp.Tool{
		Name:        "write_file",
		Title:       "Write a file",
		Description: "Create or replace a file in the sandbox, creating its parent directories.",
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: &destructive},
	}, s.writeFile)
	mcp.AddTool(s.srv, &mcp.Tool{
		Name:        "list_dir",
		Title:       "List a directory",
		Description: "List the entries of a directory in the sandbox (default: its working directory).",
		Annotations: readOnly,
	}, s.listDir)
	mcp.AddTool(s.srv, &mcp.Tool{
		Name:        "stat",
		Title:       "Describe a path",
		Description: "Describe a file or directory in the sandbox: type, size, permissions, modification time.",
		Annotations: readOnly,
	}, s.stat)
	mcp.AddTool(s.srv, &mcp.Tool{
		Name:        "remove",
		Title:       "Remove a path",
		Description: "Remove a file, or a directory and everything in it, from the sandbox.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: &destructive},
	}, s.remove)
	mcp.AddTool(s.srv, &mcp.Tool{
		Name:  "url",
		Title: "A port's URL",
		Description: "The URL that reaches a server listening on a port in the sandbox (its preview URL), and the headers every request to it must carry. " +
			"Not every provider has them: the error then says so, and the tool is withdrawn.",
		Annotations: readOnly,
	}, s.url)
	mcp.AddTool(s.srv, &mcp.Tool{
		Name:  "pause",
		Title: "Pause the sandbox",
		Description: "Pause the sandbox, keeping its memory and files, to stop paying for it while idle. " +
			"The next tool call resumes it. Not every provider can pause: the error then says so, and the tool is withdrawn.",
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true},
	}, s.pause)
}

type execIn struct {
	Command string            `json:"command" jsonschema:"the command line, run by the sandbox's shell"`
	Cwd     string            `json:"cwd,omitempty" jsonschema:"the working directory (default: the sandbox's); relative paths resolve against the sandbox's"`
	Env     map[string]string `json:"env,omitempty" jsonschema:"environment variables to set for the command"`
	Timeout float64           `json:"timeout,omitempty" jsonschema:"seconds after which the command is killed (default: no limit)"`
}

type execOut struct {
	ExitCode   int    `json:"exit_code" jsonschema:"the exit status; -1 when the command was killed"`
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	TimedOut   bool   `json:"timed_out,omitempty" jsonschema:"the command ran out of time and was killed"`
	StdoutFile string `json:"stdout_file,omitempty" jsonschema:"the file in the sandbox that holds all of stdout, when the result does not"`
	StderrFile string `json:"stderr_file,omitempty" jsonschema:"the file in the sandbox that holds all of stderr, when the result does not"`
	Note       string `json:"note,omitempty"`
}

func (s *Server) exec(ctx context.Context, req *mcp.CallToolRequest, in execIn) (*mcp.CallToolResult, execOut, error) {
	var out execOut
	if strings.TrimSpace(in.Command) == "" {
		return nil, out, errors.New(`command is empty: give a shell command line such as "ls -la"`)
	}
	if math.IsNaN(in.Timeout) || in.Timeout < 0 || in.Timeout > maxTimeout.Seconds() {
		return nil, out, fmt.Errorf("timeout %v: want seconds from 0 (no limit) to %.0f", in.Timeout, maxTimeout.Seconds())
	}
	h, err := s.handle(ctx)
	if err != nil {
		return nil, out, toolErr(err)
	}
	stdout, stderr := newSpool(s.maxOutput), newSpool(s.maxOutput)
	defer stdout.close()
	defer stderr.close()
	var wout, werr io.Writer = stdout, stderr
	if tok := req.Params.GetProgressToken(); tok != nil {
		p := &progress{ctx: ctx, session: req.Session, token: tok}
		wout, werr = io.MultiWriter(stdout, p.stream("")), io.MultiWriter(stderr, p.stream("stderr: "))
	}
	timeout := time.Duration(in.Timeout * float64(time.Second))
	res, err := h.Exec(ctx, &sandagent.Cmd{Shell: in.Command, Dir: in.Cwd, Env: in.Env, Timeout: timeout, Stdout: wout, Stderr: werr})
	var ee *sandagent.ExitError
	switch {
	case err == nil || errors.As(err, &ee):
	case errors.Is(err, sandagent.ErrTimeout) && ctx.Err() == nil:
		out.TimedOut = true
		out.Note = err.Error()
	default:
		return nil, out, toolErr(err)
	}
	out.ExitCode = res.ExitCode
	var notes []string
	if out.Note != "" {
		notes = append(notes, out.Note)
	}
	out.Stdout, out.StdoutFile, notes = s.keep(ctx, h, "stdout", stdout, notes)
	out.Stderr, out.StderrFile, notes = s.keep(ctx, h, "stderr", stderr, notes)
	out.Note = strings.Join(notes, "; ")
	return nil, out, nil
}

// keep returns what a result holds of one output stream and, when that is
// not all of it byte for byte, writes it whole to a file in the sandbox and
// returns the file's path and a note saying so.
func (s *Server) keep(ctx context.Context, h *sandagent.Handle, what string, sp *spool, notes []string) (text, file string, _ []string) {
	text, exact := sp.text()
	if exact {
		return text, "", notes
	}
	r, err := sp.reader()
	if err == nil {
		file, err = s.spill(ctx, h, what, r)
	}
	why := fmt.Sprintf("%s was %d bytes; the result holds the first %d", what, sp.n, min(sp.n, int64(s.maxOutput)))
	if sp.n <= int64(s.maxOutput) {
		why = what + " is not UTF-8 (bad bytes are shown as U+FFFD)"
	}
	if err != nil {
		return text, "", append(notes, fmt.Sprintf("%s, and writing all of it to the sandbox failed: %v", why, err))
	}
	return text, file, append(notes, fmt.Sprintf("%s; all of it is in %s", why, file))
}

// spill writes r to a new file under outputDir and returns its absolute
// path.
func (s *Server) spill(ctx context.Context, h *sandagent.Handle, what string, r io.Reader) (string, error) {
	rel, abs := s.outputPath(h, what)
	if err := h.WriteFrom(ctx, rel, r); err != nil {
		return "", err
	}
	return abs, nil
}

type readIn struct {
	Path   string `json:"path" jsonschema:"the file; relative paths resolve against the sandbox's working directory"`
	Offset int64  `json:"offset,omitempty" jsonschema:"the byte to start at (default 0)"`
}

type readOut struct {
	Path     string `json:"path"`
	Content  string `json:"content"`
	Encoding string `json:"encoding" jsonschema:"utf-8, or base64 when the bytes are not UTF-8"`
	Offset   int64  `json:"offset" jsonschema:"the byte of the file content starts at"`
	Bytes    int    `json:"bytes" jsonschema:"how many bytes of the file content holds"`
	More     bool   `json:"more,omitempty" jsonschema:"the file goes on past offset+bytes"`
	Note     string `json:"note,omitempty"`
}

func (s *Server) readFile(ctx context.Context, _ *mcp.CallToolRequest, in readIn) (*mcp.CallToolResult, readOut, error) {
	out := readOut{Path: in.Path, Offset: in.Offset, Encoding: "utf-8"}
	if in.Offset < 0 {
		return nil, out, fmt.Errorf("offset %d is negative", in.Offset)
	}
	h, err := s.handle(ctx)
	if err != nil {
		return nil, out, toolErr(err)
	}
	r, err := h.NewReader(ctx, in.Path)
	if err != nil {
		return nil, out, toolErr(err)
	}
	defer r.Close()
	if in.Offset > 0 {
		n, err := io.CopyN(io.Discard, r, in.Offset)
		if errors.Is(err, io.EOF) {
			out.Note = fmt.Sprintf("offset %d is past the end of the file (%d bytes)", in.Offset, n)
			return nil, out, nil
		}
		if err != nil {
			return nil, out, toolErr(err)
		}
	}
	buf := make([]byte, s.maxOutput+1)
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, out, toolErr(err)
	}
	b := buf[:min(n, s.maxOutput)]
	out.More = n > s.maxOutput
	if out.More {
		b = trimPartialRune(b)
	}
	if utf8.Valid(b) {
		out.Content = string(b)
	} else {
		out.Content, out.Encoding = base64.StdEncoding.EncodeToString(b), "base64"
	}
	out.Bytes = len(b)
	if out.More {
		out.Note = fmt.Sprintf("the file goes on: call read_file with offset %d for more", in.Offset+int64(len(b)))
	}
	return nil, out, nil
}

type writeIn struct {
	Path     string `json:"path" jsonschema:"the file; relative paths resolve against the sandbox's working directory"`
	Content  string `json:"content" jsonschema:"the file's new content"`
	Encoding string `json:"encoding,omitempty" jsonschema:"how content is encoded: utf-8 (default) or base64"`
}

type writeOut struct {
	Path  string `json:"path"`
	Bytes int    `json:"bytes" jsonschema:"how many bytes were written"`
}

func (s *Server) writeFile(ctx context.Context, _ *mcp.CallToolRequest, in writeIn) (*mcp.CallToolResult, writeOut, error) {
	out := writeOut{Path: in.Path}
	data := []byte(in.Content)
	switch strings.ToLower(in.Encoding) {
	case "", "utf-8", "utf8", "text":
	case "base64":
		var err error
		if data, err = base64.StdEncoding.DecodeString(in.Content); err != nil {
			return nil, out, fmt.Errorf("content is not valid base64: %v", err)
		}
	default:
		return nil, out, fmt.Errorf("encoding %q: want utf-8 or base64", in.Encoding)
	}
	h, err := s.handle(ctx)
	if err != nil {
		return nil, out, toolErr(err)
	}
	if err := h.WriteFile(ctx, in.Path, data); err != nil {
		return nil, out, toolErr(err)
	}
	out.Bytes = len(data)
	return nil, out, nil
}

type pathIn struct {
	Path string `json:"path" jsonschema:"relative paths resolve against the sandbox's working directory"`
}

type dirIn struct {
	Path string `json:"path,omitempty" jsonschema:"the directory (default: the sandbox's working directory); relative paths resolve against it"`
}

// entry describes a file or directory.
type entry struct {
	Name    string `json:"name"`
	Path    string `json:"path,omitempty"`
	Type    string `json:"type" jsonschema:"file, dir, symlink or other"`
	Size    int64  `json:"size"`
	Mode    string `json:"mode" jsonschema:"the permissions, in octal"`
	ModTime string `json:"mod_time,omitempty" jsonschema:"RFC 3339; absent when the provider does not report it"`
}

func entryOf(fi sandagent.FileInfo, withPath bool) entry {
	e := entry{Name: fi.Name, Size: fi.Size, Mode: fmt.Sprintf("%04o", fi.Mode.Perm()), Type: "other"}
	switch {
	case fi.Mode.IsDir():
		e.Type = "dir"
	case fi.Mode&fs.ModeSymlink != 0:
		e.Type = "symlink"
	case fi.Mode.IsRegular():
		e.Type = "file"
	}
	if !fi.ModTime.IsZero() {
		e.ModTime = fi.ModTime.UTC().Format(time.RFC3339)
	}
	if withPath {
		e.Path = fi.Path
	}
	return e
}

type listOut struct {
	Path        string  `json:"path"`
	Entries     []entry `json:"entries"`
	Total       int     `json:"total" jsonschema:"how many entries the directory has"`
	ListingFile string  `json:"listing_file,omitempty" jsonschema:"the file in the sandbox that holds the whole listing, when the result does not"`
	Note        string  `json:"note,omitempty"`
}

func (s *Server) listDir(ctx context.Context, _ *mcp.CallToolRequest, in dirIn) (*mcp.CallToolResult, listOut, error) {
	dir := in.Path
	if dir == "" {
		dir = "."
	}
	out := listOut{Path: dir, Entries: []entry{}}
	h, err := s.handle(ctx)
	if err != nil {
		return nil, out, toolErr(err)
	}
	fis, err := h.ListDir(ctx, dir)
	if err != nil {
		return nil, out, toolErr(err)
	}
	out.Total = len(fis)
	var all bytes.Buffer
	size := 0
	for _, fi := range fis {
		e := entryOf(fi, false)
		line := fmt.Sprintf("%s\t%d\t%s\t%s\t%s\n", e.Type, e.Size, e.Mode, e.ModTime, e.Name)
		all.WriteString(line)
		if size += len(line); size <= s.maxOutput {
			out.Entries = append(out.Entries, e)
		}
	}
	if len(out.Entries) < len(fis) {
		why := fmt.Sprintf("the directory has %d entries; the result holds the first %d", len(fis), len(out.Entries))
		file, err := s.spill(ctx, h, "listing", &all)
		if err != nil {
			out.Note = fmt.Sprintf("%s, and writing the whole listing to the sandbox failed: %v", why, err)
		} else {
			out.ListingFile = file
			out.Note = fmt.Sprintf("%s; the whole listing (type, size, mode, time, name per line) is in %s", why, file)
		}
	}
	return nil, out, nil
}

func (s *Server) stat(ctx context.Context, _ *mcp.CallToolRequest, in pathIn) (*mcp.CallToolResult, entry, error) {
	h, err := s.handle(ctx)
	if err != nil {
		return nil, entry{}, toolErr(err)
	}
	fi, err := h.Stat(ctx, in.Path)
	if err != nil {
		return nil, entry{}, toolErr(err)
	}
	return nil, entryOf(fi, true), nil
}

type removeOut struct {
	Removed string `json:"removed"`
}

func (s *Server) remove(ctx context.Context, _ *mcp.CallToolRequest, in pathIn) (*mcp.CallToolResult, removeOut, error) {
	h, err := s.handle(ctx)
	if err != nil {
		return nil, removeOut{}, toolErr(err)
	}
	if err := h.Remove(ctx, in.Path); err != nil {
		return nil, removeOut{}, toolErr(err)
	}
	return nil, removeOut{Removed: in.Path}, nil
}

type pauseOut struct {
	Paused string `json:"paused" jsonschema:"the sandbox's id"`
	Note   string `json:"note"`
}

func (s *Server) pause(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, pauseOut, error) {
	h, err := s.handle(ctx)
	if err != nil {
		return nil, pauseOut{}, toolErr(err)
	}
	if err := h.Pause(ctx); err != nil {
		return nil, pauseOut{}, s.capabilityErr("pause", err)
	}
	s.detach(h)
	return nil, pauseOut{Paused: h.ID(), Note: "the next tool call attaches again, which resumes the sandbox"}, nil
}

type urlIn struct {
	Port int `json:"port" jsonschema:"the port, 1 to 65535, a server listens on in the sandbox"`
}

type urlOut struct {
	URL    string            `json:"url"`
	Header map[string]string `json:"header,omitempty" jsonschema:"headers every request to the URL must carry (access tokens)"`
}

func (s *Server) url(ctx context.Context, _ *mcp.CallToolRequest, in urlIn) (*mcp.CallToolResult, urlOut, error) {
	h, err := s.handle(ctx)
	if err != nil {
		return nil, urlOut{}, toolErr(err)
	}
	e, err := h.URL(ctx, in.Port)
	if err != nil {
		return nil, urlOut{}, s.capabilityErr("url", err)
	}
	out := urlOut{URL: e.URL}
	for k := range e.Header {
		if out.Header == nil {
			out.Header = map[string]string{}
		}
		out.Header[k] = e.Header.Get(k)
	}
	return nil, out, nil
}

// capabilityErr is the tool error of an optional capability's tool. Where
// the provider lacks the capability, the tool is withdrawn from the list
// (clients are notified) as well.
func (s *Server) capabilityErr(tool string, err error) error {
	if errors.Is(err, sandagent.ErrUnsupported) {
		s.srv.RemoveTools(tool)
	}
	return toolErr(err)
}

// trimPartialRune drops the first bytes of a rune that b ends in the middle
// of, if b is otherwise UTF-8, so that a cut text stays text.
func trimPartialRune(b []byte) []byte {
	for i := 1; i <= utf8.UTFMax-1 && i <= len(b); i++ {
		if utf8.Valid(b[:len(b)-i]) && !utf8.Valid(b) {
			return b[:len(b)-i]
		}
	}
	return b
}
