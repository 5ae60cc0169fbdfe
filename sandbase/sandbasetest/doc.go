//go:build unix

// Package sandbasetest is a SandBase emulator: an httptest-style server on a
// loopback port that speaks the current SandBase sandbox service, which is
// E2B's own protocol at sandbox.sandbase.ai (control plane and envd). It is
// package e2btest's server under SandBase's dialect, so commands and files
// are real: every sandbox is a sandbox of the local engine, a directory on
// this machine whose processes run as the calling user.
//
// It is the test double of package sandbase, and it is faithful enough for
// the official E2B SDKs (2.50.0 and 2.51.0), as SandBase's quickstart uses
// them: point E2B_API_URL and E2B_SANDBOX_URL at Server.URL and send
// Server.APIKey as X-API-Key (E2B_API_KEY).
//
// # The API served
//
// Control plane, as SandBase documents it: POST /v2/sandboxes, GET
// /v2/sandboxes?state=running,paused (paged with X-Next-Token), POST
// /v2/sandboxes/{id}/connect; GET and DELETE /sandboxes/{id}, POST
// /sandboxes/{id}/pause and /timeout. Also E2B's deprecated POST /sandboxes
// and /sandboxes/{id}/connect, which E2B's SDK 2.50.0 uses (whether
// SandBase serves them is unverified). Not served (JSON 404 or 405): GET
// /sandboxes, /resume, /refreshes. envd (Process RPC, Filesystem RPC,
// /files) on the same port, routed by the E2b-Sandbox-Id and
// E2b-Sandbox-Port headers, as e2btest does. Every error is E2B's
// {"code","message"}.
//
// # SandBase's rules
//
// Persistence is one-to-one. Pause stops every process of the sandbox
// (memory kept) and keeps its files; connect resumes that same sandbox,
// the processes going on where they were, with the timeout counted afresh
// and the continuous-lifetime window restarted. Kill deletes it. A running
// sandbox lives until its timeout, at most its maximum continuous lifetime
// (WithMaxLifetime, default one hour: a longer timeout is cut to it); then
// it is killed.
//
// # Decisions where SandBase's documentation is silent
//
//   - Status codes: create 201; connect 200 whether it resumed the sandbox
//     or found it running (SandBase's fixtures answer 200; no source shows
//     201); pause, timeout and DELETE 204.
//   - Every connect gives a secure sandbox a new envdAccessToken; the old
//     one stops working. Sandboxes are always secure on the v2 routes.
//   - Errors: 401 "missing API key" and "invalid API key"; 404 "sandbox not
//     found"; 409 "sandbox is not active" (POST /timeout of a paused
//     sandbox), "sandbox is already paused" (no message is documented for
//     it), "sandbox maximum lifetime exceeded" (any request but DELETE for
//     a sandbox killed at the end of its lifetime; DELETE forgets it); 402
//     "insufficient balance" on create after SetBalance(false). A 429 "rate
//     limit exceeded" without Retry-After is for tests to inject with
//     Server.Faults.
//   - Keys: any key given to WithAPIKey is accepted; without one the server
//     makes one up in SandBase's format ("sk-" and 64 hexadecimal digits).
//   - Templates are the organization's: WithTemplates (default "base").
//     Ids, envdVersion and the rest of the sandbox object are E2B's
//     (SandBase fronts E2B; its own values are unverified).
//   - Time, the home directory, output delivery and what envd lacks are as
//     in package e2btest.
package sandbasetest
