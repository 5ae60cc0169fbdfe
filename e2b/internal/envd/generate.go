// Package envd holds the protobuf and Connect definitions of E2B's in-sandbox
// daemon, envd: its Process and Filesystem Connect-RPC services, as used by the
// E2B client and the E2B emulator.
//
// The .proto sources are under proto/; the generated Go code lives in the
// subpackages process, process/processconnect, filesystem and
// filesystem/filesystemconnect. To regenerate after editing a .proto file, run
// from this directory (only a Go toolchain is needed; buf and the protoc
// plugins are fetched at the pinned versions by "go run"):
//
//	go generate .
//
// which runs
//
//	go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate
//
// with the plugin versions pinned in buf.gen.yaml.
package envd

//go:generate go run github.com/bufbuild/buf/cmd/buf@v1.75.0 generate
