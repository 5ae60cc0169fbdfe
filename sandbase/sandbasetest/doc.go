//go:build unix

// Package sandbasetest is a SandBase emulator: an httptest-style server on a
// loopback port that speaks SandBase's REST API, the E2B-compatible dialect
// of api.sandbase.ai. Commands and files are real: every sandbox is a
// sandbox of the local engine, a directory on this machine whose processes
// run as the calling user.
//
// It is the test double of package sandbase. Point a client at Server.URL
// and send Server.APIKey as "Authorization: Bearer <key>" or
// "X-API-Key: <key>"; tests move Server.Clock, inject failures with
// Server.Faults and count requests with Server.Requests.
//
// # The API served
//
// Control plane: POST /sandboxes, GET /sandboxes?status=, GET and DELETE
// /sandboxes/{id}, POST /sandboxes/{id}/pause, /connect, /resume and
// /timeout. Inside a sandbox: POST /sandboxes/{id}/processes (run a command
// to completion), GET /sandboxes/{id}/health, /envs and /metrics, and the
// filesystem endpoints under /sandboxes/{id}/filesystem (read, write,
// delete, list, stat, download, upload, mkdir, move). Errors are E2B's
// {"code","message"} with SandBase's messages: "unknown template: foo",
// "invalid status filter: <v>", "invalid sandbox id", "sandbox not found",
// "failed to pause sandbox in provider". What SandBase does not offer (GET
// /v2/sandboxes, /refreshes, snapshots, forks, ...) is answered by the
// router: a plain-text "404 page not found" (405 for a wrong method on a
// known path).
//
// # Reuse rule
//
// Persistence is one-to-one. Pause stops every process of the sandbox
// (SIGSTOP: memory kept) and keeps its files; the sandbox stays paused,
// with no timeout, until it is resumed or killed. Connect or resume
// continues the processes where they were, restarts the timeout (the
// request's timeout, else the sandbox's last one) and restarts the
// continuous-lifetime window. DELETE kills the sandbox for good: afterwards
// it is not found. A running sandbox whose timeout or maximum lifetime
// (WithMaxLifetime, default one hour) ends becomes stopped: its processes
// are killed and its files deleted; the record stays, listed with status
// stopped, until it is deleted.
//
// # Decisions where SandBase's documentation is silent or inconsistent
//
//   - Status codes: create answers 201 (what E2B and its SDKs expect);
//     connect and resume answer 201 when they resumed a paused sandbox and
//     200 when it was running (E2B's connect); pause, DELETE and timeout
//     answer 204; a file write 200 with an empty body; mkdir, move and
//     upload 200 with the entry of the path.
//   - /resume is the same operation as /connect (the guides use one or the
//     other): on a running sandbox both extend the timeout, never shorten
//     it. POST /timeout sets it from now and may shorten it.
//   - Operations the state forbids answer 409 {"code":409,"message":"sandbox
//     is <status>"}: anything inside a paused or stopped sandbox (commands,
//     files, health, envs, metrics: its services are unreachable), resuming
//     or pausing a stopped one, setting the timeout of one that is not
//     running. Pausing a paused sandbox is 409 "sandbox is already paused".
//     (409 is E2B's status for state conflicts; a 502 would be retried by
//     clients as a transient failure.)
//   - Timeouts: a body's timeout must be a positive number of seconds
//     (else 400 "timeout must be greater than 0"); POST /timeout without
//     one is 400 "timeout is required". Without one, create uses the
//     template's default (300 s, 600 s for claude, codex, hermes-agent,
//     opencode and desktop). A timeout past the end of the lifetime window
//     is cut to it, as endAt shows. The timeout is not reset by activity
//     (E2B's rule, and the API reference's advice to call /timeout as a
//     keep-alive). Lifetimes and timeouts follow Server.Clock and are
//     applied lazily, by the next request that concerns the sandbox.
//   - The lifetime window restarts on resume ("pausing and resuming resets
//     that window"; another page says paused time does not count, which
//     the reset implies).
//   - The sandbox object has exactly sandboxID, templateID, clientID
//     ("erouter"), metadata ({} when none), startedAt (creation), endAt and
//     status. endAt is the expiry of a running sandbox, the time it was
//     paused for a paused one (as E2B reports it) and the time it stopped
//     for a stopped one. Ids are "sbx_" and 12 hexadecimal digits; any
//     "sbx_" followed by letters and digits is a valid id to look up.
//   - Only the templates SandBase lists exist: code_interpreter, claude,
//     codex, hermes-agent, opencode, desktop, base. They all run on this
//     machine alike.
//   - Commands: cmd is a program, looked up in PATH, and args its
//     arguments, with no shell between (the documented example is
//     {"cmd":"python3","args":["-c","print(2+2)"]}; for a shell line send
//     {"cmd":"sh","args":["-c",line]}). A program that cannot be started,
//     or a cwd that does not exist, is 502, as is a command that outlives
//     its timeout (default 60 s, real time: it is the command's run time)
//     or whose sandbox is stopped or killed meanwhile; it is killed. A
//     command killed by a signal reports exitCode -1. A client that hangs
//     up kills its command. stdout and stderr keep the first 16 MB each.
//     processID is the host pid. A process left in the background (with
//     nohup, output redirected) stays in the command's process group, so
//     pause stops it too; one that leaves the group (setsid) escapes pause.
//   - Working directory: SandBase documents /workspace (exec and list
//     defaults) and /home/user (templates). Both, and what lies below
//     them, stand for the sandbox's work tree, a real directory of this
//     machine, which is also the default cwd, the default list path, HOME,
//     and the base of relative paths. Every path the emulator reports is
//     the real host path, so that `pwd` and the file API agree. Other
//     absolute paths outside the work tree are 400.
//   - Files: a read is capped at 1 MB = 1048576 bytes (larger: 400 "file
//     too large: …; use /filesystem/download"), an upload at 100 MB =
//     104857600 bytes (larger: 413); download has no cap. Entries carry
//     both documented shapes at once: {name, path, isDir, type, size} with
//     type "file" or "dir" and size 0 for directories (a symlink is
//     described by its target). A write and an upload create missing
//     parents; delete removes directories recursively; move creates the
//     destination's parents. A missing file is 404; a bad path, a
//     directory read as a file, or bad base64 is 400.
//   - /metrics reports fixed figures (2 CPUs, 4 GiB of memory, 10 GiB of
//     disk, no use) except disk_used, the size of the sandbox's files, and
//     ts, Server.Clock's time. /envs runs env(1) in the sandbox.
//   - Auth: any key given to WithAPIKey is accepted (SandBase keys start
//     with "sk-sb-"; there is no E2B "e2b_" check). The emulator is one
//     organization, so org isolation has no visible effect.
//   - Not served: lifecycle events and webhooks (/events/…), GET
//     /templates.
//   - The emulator keeps its records in memory: a new Server on the same
//     WithDir does not know the sandboxes of an earlier one. Close kills
//     every process of every sandbox; with WithDir the directories stay,
//     otherwise the temporary root is removed.
package sandbasetest
