//go:build unix

package sandagent_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/sandagent/sandagent"
	"github.com/sandagent/sandagent/local"
)

// The main flow: name a sandbox, attach, run commands, move files, detach.
// Attaching the same name again, from this process or another, lands in the
// same sandbox.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "sandagent-example-")
	defer os.RemoveAll(dir)

	sb, err := local.New(local.WithName("my-project"), local.WithDir(dir))
	if err != nil {
		log.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("attach:", h.Outcome())

	if err := h.WriteFile(ctx, "notes/hello.txt", []byte("hello from the host\n")); err != nil {
		log.Fatal(err)
	}
	res, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"cat", "notes/hello.txt"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print("cat: ", string(res.Stdout))
	h.Close() // detach; the sandbox lives on

	h, err = sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Destroy(ctx)
	fmt.Println("attach again:", h.Outcome())
	data, _ := h.ReadFile(ctx, "notes/hello.txt")
	fmt.Print("file: ", string(data))
	// Output:
	// attach: created
	// cat: hello from the host
	// attach again: reused
	// file: hello from the host
}

// Output streams to Cmd.Stdout and Cmd.Stderr while the command runs; the
// Result keeps a copy. A non-zero exit is an *ExitError.
func ExampleHandle_Exec() {
	ctx := context.Background()
	h, done := attachExample(ctx)
	defer done()

	res, err := h.Exec(ctx, &sandagent.Cmd{
		Shell:  "echo building; echo 'warning: old config' >&2; exit 2",
		Stdout: os.Stdout,
		Env:    map[string]string{"CI": "true"},
	})
	var exit *sandagent.ExitError
	if errors.As(err, &exit) {
		fmt.Println("exit code:", exit.ExitCode)
	}
	fmt.Print("stderr: ", string(res.Stderr))
	// Output:
	// building
	// exit code: 2
	// stderr: warning: old config
}

// A timeout kills the command; the error matches ErrTimeout.
func ExampleCmd_timeout() {
	ctx := context.Background()
	h, done := attachExample(ctx)
	defer done()

	_, err := h.Exec(ctx, &sandagent.Cmd{Args: []string{"sleep", "10"}, Timeout: 100 * time.Millisecond})
	fmt.Println(errors.Is(err, sandagent.ErrTimeout))
	// Output: true
}

// Start runs a command in the background; Stdin can be any io.Reader, such
// as the read end of an io.Pipe for an interactive process.
func ExampleHandle_Start() {
	ctx := context.Background()
	h, done := attachExample(ctx)
	defer done()

	p, err := h.Start(ctx, &sandagent.Cmd{Args: []string{"tr", "a-z", "A-Z"}, Stdin: strings.NewReader("shout\n")})
	if err != nil {
		log.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(string(res.Stdout))
	// Output: SHOUT
}

// Pause keeps memory and files; the next Attach resumes the sandbox.
func ExampleHandle_Pause() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "sandagent-example-")
	defer os.RemoveAll(dir)
	sb, _ := local.New(local.WithName("paused"), local.WithDir(dir))

	h, err := sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := h.Pause(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = h.Exec(ctx, &sandagent.Cmd{Shell: "true"})
	fmt.Println("exec while paused:", errors.Is(err, sandagent.ErrState))
	h.Close()

	h, _ = sb.Attach(ctx)
	defer h.Destroy(ctx)
	fmt.Println("attach:", h.Outcome())
	// Output:
	// exec while paused: true
	// attach: resumed
}

// Open configures a sandbox from one URL, such as an environment variable
// of a serverless function. The provider package registers its scheme.
func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "sandagent-example-")
	defer os.RemoveAll(dir)

	h, err := sandagent.Open(ctx, "local://from-url?timeout=10m&dir="+dir)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Destroy(ctx)
	fmt.Println(h.Provider(), h.Name(), h.Outcome())

	_, err = sandagent.Open(ctx, "local://from-url?colour=blue")
	fmt.Println(errors.Is(err, sandagent.ErrInvalid))
	// Output:
	// local from-url created
	// true
}

// Missing files match both ErrNotFound and fs.ErrNotExist.
func ExampleHandle_ReadFile() {
	ctx := context.Background()
	h, done := attachExample(ctx)
	defer done()

	_, err := h.ReadFile(ctx, "no/such/file")
	fmt.Println(errors.Is(err, sandagent.ErrNotFound), errors.Is(err, os.ErrNotExist))
	// Output: true true
}

// attachExample attaches a fresh local sandbox in a temporary directory,
// and returns the function that destroys both.
func attachExample(ctx context.Context) (*sandagent.Handle, func()) {
	dir, _ := os.MkdirTemp("", "sandagent-example-")
	sb, err := local.New(local.WithDir(dir))
	if err != nil {
		log.Fatal(err)
	}
	h, err := sb.Attach(ctx)
	if err != nil {
		log.Fatal(err)
	}
	return h, func() { h.Destroy(ctx); os.RemoveAll(dir) }
}
