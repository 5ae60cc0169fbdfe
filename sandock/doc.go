// Package sandock is the Sandock provider (https://sandock.ai): container
// sandboxes behind a JSON REST API under /api/v1, with Bearer-key auth.
//
// What this package knows of the service comes from public source, never
// from a live account: the official SDK (sandock-ai/sandock @ d949446,
// packages/sandock-js) and the server's API contract and core in the same
// repository (@ 0de0269: packages/sandock-contract, packages/sandock-core,
// apps/sandock, the self-hostable server). The hosted service
// (apps/sandock-cloud) is not public; the contract says it serves the same
// routes through the same core. Each fact below names its source; "the
// core" is sandock-core @ 0de0269, "the SDK" sandock-js @ d949446. Facts
// marked unverified are what the public code says, not checked against
// the hosted service.
//
// # Reuse rule
//
// Sandock sandboxes have no names; a caller reattaches by the id that
// Handle.ID returned, stored between requests (WithID).
//
//   - Without WithID, every Attach creates a new sandbox: one request,
//     POST /api/v1/sandbox, which starts it (the core creates the row and
//     starts the container in the same call, answering once it is
//     RUNNING; a start after it would restart a Docker container).
//   - With WithID, Attach lists the sandboxes (neither contract has
//     GET /api/v1/sandbox/{id}; the SDK's get lists too) and looks at that
//     one's status: one request. RUNNING: it is reattached (Outcome Reused,
//     same id). Anything else — STOPPED (an expired one too: the deadline
//     stops it), PAUSED, ERROR, CREATING, a status this package does not
//     know, or absent from the list (deleted, auto-deleted, unknown: the
//     core lists neither) — is not restarted: Attach creates a new sandbox
//     (Outcome Created, a new ID) and the caller stores the new id.
//   - WithRestartStopped opts in to starting a STOPPED or PAUSED sandbox
//     (POST …/start) instead, Outcome Started. What survives is what
//     Sandock keeps, and that is little: the core's stop removes the
//     container (Docker) or deletes the pod (Kubernetes), so only the
//     mounted volumes keep their files. A restarted sandbox is a new
//     sandbox in all but its id and volumes; Started here promises no
//     more. (PAUSED too: the core's pause deletes the pod on Kubernetes.)
//   - Fail closed: only a successful list without the id counts as "not
//     found". A 401/403, a 429, a 5xx or a network error on the status check
//     is returned and nothing is created.
//   - After replacing a sandbox, the Sandbox follows the new id, so later
//     Attach calls on the same *Sandbox reattach to the replacement.
//   - If Attach's ctx ends after the create was answered, it deletes that
//     sandbox; it never deletes one it did not create.
//
// A sandbox stopped behind a handle's back (its deadline passed) is
// started again, silently and empty but for its volumes, by the next
// command or file call on that handle: the core starts any sandbox that is
// not RUNNING before serving a shell, code or fs call, and nothing answers
// "not running". Only a list per call could tell, so this package does not
// check; attach again (one request) where that matters.
//
// # Volumes
//
// WithVolume(name, mountPath) looks a volume up by name, creating it if
// missing (GET /api/v1/volume/name/{name}?create=true, the SDK's route),
// then polls it (GET /api/v1/volume/{id}, backoff from 100 ms to 2 s) until
// its status is "ready", for at most WithVolumeTimeout (default 60 s) and
// never past the ctx. On create the volumes are mounted through the create
// request's volumes. On reattach they are resolved so that Handle.Volumes
// reports them, but the API can neither mount into an existing sandbox nor
// list a sandbox's mounts, so whether that sandbox has them is not
// checked. Volumes are never deleted by this package. Mount them inside
// the workdir (/sandbox/…) to keep a project across sandboxes.
//
// # Defaults, made explicit
//
//   - Workdir: /sandbox on the core's Docker and Kubernetes providers (the
//     image's own /workspace is overridden; Docker's is configurable, and
//     create's workdir field is ignored). Handle.Workdir learns the
//     sandbox's own with `pwd` on first need (one request, not made by
//     Attach).
//   - Deadline: activeDeadlineSeconds is always sent, DefaultDeadline (the
//     core's 1800 s, applied even when omitted) unless WithActiveDeadline
//     says otherwise; it runs from the last start.
//   - Keep-alive: without `command`, the core's container runs `sleep 3600`
//     (Docker, fixed; Kubernetes, SANDBOX_K8S_IDLE_SECONDS), so a sandbox
//     ends an hour after each start whatever its deadline. Attach sends
//     command ["sleep", "<deadline in seconds>"], so the deadline alone ends
//     it. The core honours command on Kubernetes only; on its Docker
//     provider a deadline over an hour is still cut at one.
//   - Exec timeout: the core's shell default is 10 s; every command is sent
//     with this package's limit (Cmd.Timeout, else WithExecTimeout, default
//     DefaultExecTimeout) plus a margin, and the limit itself is enforced
//     in the sandbox (see Commands).
//
// # Commands
//
// Exec runs through POST /api/v1/sandbox/{id}/shell/stream, an SSE stream
// of stdout, stderr, exit and error events ended by [DONE] (the SDK's route
// and framing; not in the public server, so unverified beyond the SDK).
// Output reaches Cmd.Stdout and Cmd.Stderr live and separately. A server
// that answers that route with 404 (the public one has no SSE routes) gets
// the blocking POST …/shell instead, from then on: the output then arrives
// when the command ends, and signals find the command through a pid file
// the wrapper keeps in /tmp while it runs. Cmd.Dir and
// Cmd.Env go in the request's workdir and env fields; Args are quoted into
// the command line with POSIX shell quoting (the core runs a string cmd
// with sh -lc, and joins an array cmd with spaces, unquoted, on
// Kubernetes).
//
// The service's exit codes cannot be trusted: on Kubernetes, what the hosted
// service runs on, they are 0 or 1 (the core reads the exec status), 137 on
// a timeout. So the command runs in the background of a wrapper shell,
// in a session of its own (setsid, where the image has it), with stdin from
// /dev/null, and the wrapper prints on stderr records this package strips:
// the command's process id, and its exit status once it ends. An exit
// status above 128 is reported as such (a shell cannot tell `exit 143`
// from SIGTERM), except -1 when it is the number of a signal
// Process.Signal sent. A stream that ends without the exit record is an
// error, never a made-up exit code.
//
// The wrapper stays for the command's life rather than `exec` it: on a
// timeout the core kills the wrappers (Kubernetes: pkill -9 -f 'sh -lc',
// every shell of the sandbox at once, whatever request it serves; Docker:
// SIGKILL to the whole container), and a command that had replaced its
// wrapper would keep running. Beside the command, a watcher process kills
// its process group when the wrapper dies, or when the command's limit
// passes (that is reported as ErrTimeout): the service's own timeout,
// set 10 s later, never fires first, so Docker's never kills the sandbox.
// A command whose wrapper the service killed because another command timed
// out ends in an error saying so.
//
// The API has no kill or signal endpoint (the core's PTY has one, not
// public). Process.Signal, a Cmd.Timeout and the end of the ctx send
// `kill -s NAME` through the blocking shell endpoint, to the command's
// process group: by name (TERM, KILL, USR1, …), since this machine's signal
// numbers need not be the sandbox's; a signal without a POSIX name here is
// ErrUnsupported. Cmd.Stdin is not supported (ErrUnsupported): the API
// takes input only as one string before the command runs, pasted into the
// command line on Kubernetes (so at most 128 KiB, Linux's limit on one
// argument) and ignored by the core's local provider. Output travels as
// JSON strings, decoded as UTF-8 by the core, so bytes of output that are
// not valid UTF-8 arrive as U+FFFD; use files for binary data.
//
// # Files
//
// The fs endpoints carry contents as strings (the core stores and reads
// them as UTF-8, so arbitrary bytes do not survive), fs/read answers "" for
// a missing file and fs/list [] for a missing directory, successfully (the
// core runs cat and ls). So contents travel as base64 text, and every check
// runs in a shell script that reports its result in its output, never in
// its exit status (0 or 1 on Kubernetes):
//
//   - WriteFile of up to 48 KiB is one shell call that decodes the content
//     from its own command line (64 KiB of base64, under the 128 KiB cap).
//     Bigger content goes as base64 pieces of 3 MiB of content, one
//     fs/write each (the core streams big writes by tar, with no argument
//     cap), into a temporary directory in the workdir, then one shell call
//     decodes them into a temporary file beside the target, checks its byte
//     count and renames it over the target: replaced whole or not at all.
//     n bytes cost ceil(n / 3 MiB) + 1 requests; a failed upload one more,
//     to remove the pieces. Memory stays at one piece.
//   - ReadFile and NewReader: one shell call checks the path and prints the
//     size; a file of up to 3 MiB comes inline in base64 in the same
//     output. A bigger one is encoded by that call into a temporary
//     directory of base64 pieces, read one fs/read each as the consumer
//     needs them (a piece read as "" is an error, never a short file) and
//     removed with one DELETE …/fs at the end or on Close. The reader gives
//     the file as it was when the read began, and fails unless exactly
//     that many bytes arrive.
//   - Stat and ListDir run `stat` (GNU coreutils); MakeDir `mkdir -p`;
//     Remove `rm -rf` after checking the path exists (the core's
//     DELETE …/fs succeeds on a missing path). A missing file is ErrNotFound
//     on every deployment.
//
// Temporary names start with .sandagent- and are hidden from ListDir. The
// sandbox image must have a POSIX shell, base64, split, wc and GNU stat, as
// sandockai/sandock-code (node:22-bookworm-slim) has. Relative paths
// resolve against Handle.Workdir.
//
// # Lifecycle and errors
//
// Stop is POST …/stop: the core removes the container or pod, keeping only
// volumes. The handle then refuses every later call with ErrState, since
// Sandock would start the sandbox again, empty, to serve it; the next
// Attach creates a new sandbox (or, with WithRestartStopped, starts this
// one). Destroy (and Sandbox.Kill) is DELETE /api/v1/sandbox/{id}; the core
// fails to delete one already deleted or unknown (a 500), so a failed
// delete is checked against the list, and a sandbox absent from it is
// success: both are idempotent. State maps RUNNING, STOPPED, PAUSED,
// CREATING, ERROR and DELETING/DELETED to sandagent's states; a sandbox
// absent from the list is "destroyed".
//
// Pause is unsupported: the core has POST …/pause and …/resume, but its
// pause keeps no memory (Kubernetes deletes the pod, files and all; Docker
// changes the status only and resume restarts the container), which is not
// what sandagent's Pause promises. SetTimeout is unsupported: the deadline
// is set at create only.
//
// Failures are *sandagent.Error values classified by HTTP status. Their
// bodies come in two shapes and both are read: oRPC's error JSON,
// {defined, code: "<STRING>", status, message}, which the public server
// answers for every error (400 BAD_REQUEST for bad input; 500
// INTERNAL_SERVER_ERROR with a generic message for everything the core
// throws, unknown and deleted ids, wrong states and volume checks
// included: no 404 for a sandbox, no 409), and the {success: false, code,
// message} wrapper, which it answers for an unmatched path and which the
// SDK documents; a 2xx wrapper with success=false is classified by its
// code. The hosted service's codes for auth and quota are not public
// (unverified: 401/403 and 429 are read as usual). GETs and the idempotent
// requests (start, stop, fs writes and removes, the idempotent file
// scripts) are retried on 429/502/503/504 and connection errors, at most
// WithRetries times; commands, signals and creates never are (Sandock has
// no idempotency key). Should a create fail ambiguously (the connection
// dropped after the service acted), the sandbox it may have made cannot be
// found again — the list carries no title or label — and is left to its
// deadline and auto-delete interval (1440 minutes after it stops, the
// core's default).
//
// Sandock has no labels or metadata on sandboxes, so there is no
// WithLabels: every sandbox this package creates gets the title
// "sandagent" (WithTitle changes it) so it can be told apart in the
// dashboard.
//
// # Listing and reaping
//
// Sandbox implements sandagent.Manager, but the core's list item is
// {id, status} and nothing else: no title, no creation time. Managed lists
// (one GET /api/v1/sandbox: the API does not page) the sandboxes whose
// title is the configuration's title when the service reports titles, and
// fails with ErrUnsupported when it does not (the core never does), rather
// than guess; with no creation time, Reap's OlderThan picks nothing. A
// sandbox someone else titled "sandagent" would be listed too.
// sandagent.FromURL("sandock://") gives a configuration for both.
//
// # Beyond the Handle
//
// Handle.As offers **Client, for what the portable Handle has no place
// for yet: Client.PreviewURL (GET …/preview-url?port=, a route of the
// hosted service's contract, unverified) and Client.RunCode (POST …/code:
// the core writes the snippet to the workdir and runs node, tsx or
// python). It also offers **resty.Client, the configured client (base URL
// and Authorization header set), for routes this package does not wrap
// such as /coding/run or the volume routes.
package sandock
