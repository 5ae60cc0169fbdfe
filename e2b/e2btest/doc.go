//go:build unix

// Package e2btest is an E2B-compatible emulator: an httptest-style server on
// a loopback port that speaks E2B's control-plane REST API and, on the same
// port, the API of envd (the daemon inside each sandbox: Connect-RPC
// services process.Process and filesystem.Filesystem plus its HTTP routes).
// Commands and files are real: every sandbox is a sandbox of the local
// engine, a directory on this machine whose processes run as the calling
// user.
//
// It is the test double of package e2b, and it is faithful enough for the
// official E2B SDKs: point one at Server.URL as both the API URL and the
// sandbox URL (JS: apiUrl and sandboxUrl, or E2B_API_URL and
// E2B_SANDBOX_URL) and use Server.APIKey.
//
// # Reuse rule
//
// The emulator implements E2B's, which package e2b builds on: a sandbox is
// found again by its id (POST /v2/sandboxes/{id}/connect resumes a paused
// one and extends the timeout of a running one, never shortening it) or by its
// metadata (GET /v2/sandboxes?metadata=…&state=running,paused, paginated
// with X-Next-Token). A sandbox lives until it is killed or its timeout
// ends; at the end of its timeout it is killed, or paused when it was
// created with autoPause. Paused sandboxes keep their processes (stopped
// with SIGSTOP) and files until they are resumed or killed.
//
// # Routing
//
// A request to a sandbox's host, "<port>-<id>.<domain>" (a Host header the
// test's resolver or client sets), or that carries E2b-Sandbox-Id or
// E2b-Sandbox-Port, goes to envd of that sandbox, as through E2B's proxy on
// a sandbox host, or on a localhost or IP host with the headers: a missing
// one of the pair is 400 "missing header", an unknown sandbox (or a paused
// one without auto-resume) is 502 {"sandboxId","message","code"}. A port
// other than envd's 49983 goes to the server listening on it in the
// sandbox (HTTP and websockets), or is 502 "The sandbox is running but port
// is not open" when none does. A Host of the form <port>-<id>.<domain>
// routes as those headers do, as E2B's proxy routes a port's public host.
// Requests to envd's paths without the headers are 400 "Invalid host", as
// the proxy answers a host it cannot parse. Everything else is the control
// plane, which requires X-API-Key (401 {"code","message"} otherwise; GET
// /health is open and answers 200 "Health check successful").
//
// Create and connect are served on their v2 routes (POST /v2/sandboxes and
// /v2/sandboxes/{id}/connect) and on their deprecated v1 routes, each with
// its own defaults, as E2B serves them: a v2 create lasts 300 s unless its
// timeout says otherwise and is always secure (an envdAccessToken); a v1
// create lasts 15 s and is secure when it asks; a v2 connect takes an
// optional body (300 s), a v1 connect requires its timeout. WithV1Only
// serves the v1 routes only, as a self-hosted or older service does.
//
// Every error is E2B's JSON {"code","message"}, unknown routes (404 "Not
// Found") and wrong methods (405 "Method Not Allowed", with Allow)
// included, so clients branch on the code as they do against E2B.
//
// # Decisions where E2B is silent or the emulator differs
//
//   - Time: sandbox timeouts, endAt, startedAt, pagination cursors and the
//     expiry of signed file URLs follow Server.Clock. Timeouts are applied
//     lazily, on the next request. Keepalive events and the process timeout
//     of Connect-Timeout-Ms use real time, as they do in envd.
//   - Home and working directory: the sandbox's home (what "~", relative
//     paths and an empty cwd resolve against, and what HOME is) is the real
//     host path of the engine sandbox's work tree, not /home/user, so that
//     `pwd` and the file API agree. Paths outside it are invalid_argument
//     (RPC) or 400 (HTTP). The users "user" and "root" are accepted and are
//     the same host user; other names are unauthenticated (RPC) or 401.
//   - Templates: only the names given to WithTemplates (default "base")
//     exist, with an optional ":default" tag; templateID and alias are both
//     the name. Every sandbox reports cpuCount 2, memoryMB 512, diskSizeMB
//     10240 and envdVersion 0.6.13.
//   - The team's maximum sandbox length is 24 hours.
//   - envdAccessToken is an HMAC of the sandbox id under a per-server key,
//     so it stays the same across pause and resume.
//   - Output of a process reaches only the streams subscribed to it (Start
//     and Connect); with none it is dropped, as in envd. Subscribers get it
//     with back-pressure, so a slow reader slows the process, never the
//     server's memory.
//   - Processes start as envd 0.6.13 starts them: `/bin/sh -c '<prelude>;
//     exec "$@"' -- cmd args` (a missing program is the shell's exit 127),
//     in the emulator's process group (none of their own), with the
//     environment built from scratch (PATH, HOME, USER, LOGNAME,
//     E2B_SANDBOX=true, E2B_SANDBOX_ID, E2B_TEMPLATE_ID, the create's
//     envVars, the request's envs; the shell adds PWD). E2B_SANDBOX_ID is
//     also how the engine finds a sandbox's processes to pause or kill them:
//     a request that overrides it hides its process from Pause and Kill.
//     SendSignal and the Connect-Timeout-Ms deadline reach the pid alone
//     and cut the output, so End follows its exit; otherwise End waits for
//     both output pipes to close. Output is read in 32 KiB chunks, a data
//     event each.
//   - Processes run as the emulator's own user: switching to a sandbox user
//     would need root and a "user" account on the machine. USER and LOGNAME
//     name the requested user ("user" by default).
//   - An EndEvent's exit code, exited flag and status are Go's
//     ProcessState's, as in envd.
//   - PTYs, Update, file watching, /metrics and file metadata (X-Metadata-*
//     headers, xattrs) are not implemented: PTY and watch RPCs answer
//     unimplemented.
//   - Close kills every process of every sandbox; with WithDir the
//     directories stay, otherwise the temporary root is removed.
package e2btest
