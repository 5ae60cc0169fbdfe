package envd_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sandagent/sandagent/e2b/internal/envd/filesystem"
	"github.com/sandagent/sandagent/e2b/internal/envd/filesystem/filesystemconnect"
	"github.com/sandagent/sandagent/e2b/internal/envd/process"
	"github.com/sandagent/sandagent/e2b/internal/envd/process/processconnect"
)

// marshalJSON returns the canonical protojson encoding of m with the
// whitespace protojson randomly inserts removed.
func marshalJSON(t *testing.T, m proto.Message) string {
	t.Helper()
	b, err := protojson.Marshal(m)
	if err != nil {
		t.Fatalf("protojson.Marshal(%T): %v", m, err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		t.Fatalf("json.Compact(%s): %v", b, err)
	}
	return buf.String()
}

func TestProcessEventJSON(t *testing.T) {
	tests := []struct {
		name string
		msg  proto.Message
		want string
	}{
		{
			name: "data stdout",
			msg: &process.ProcessEvent{Event: &process.ProcessEvent_Data{Data: &process.ProcessEvent_DataEvent{
				Output: &process.ProcessEvent_DataEvent_Stdout{Stdout: []byte("hello\n")},
			}}},
			want: `{"data":{"stdout":"aGVsbG8K"}}`,
		},
		{
			name: "start response",
			msg: &process.StartResponse{Event: &process.ProcessEvent{Event: &process.ProcessEvent_Start{
				Start: &process.ProcessEvent_StartEvent{Pid: 412},
			}}},
			want: `{"event":{"start":{"pid":412}}}`,
		},
		{
			name: "keepalive",
			msg: &process.ConnectResponse{Event: &process.ProcessEvent{Event: &process.ProcessEvent_Keepalive{
				Keepalive: &process.ProcessEvent_KeepAlive{},
			}}},
			want: `{"event":{"keepalive":{}}}`,
		},
		{
			name: "end success omits exitCode",
			msg: &process.ProcessEvent{Event: &process.ProcessEvent_End{End: &process.ProcessEvent_EndEvent{
				ExitCode: 0, Exited: true, Status: "exit status 0",
			}}},
			want: `{"end":{"exited":true,"status":"exit status 0"}}`,
		},
		{
			name: "end killed",
			msg: &process.ProcessEvent{Event: &process.ProcessEvent_End{End: &process.ProcessEvent_EndEvent{
				ExitCode: -1, Status: "signal: killed", Error: proto.String("signal: killed"),
			}}},
			want: `{"end":{"exitCode":-1,"status":"signal: killed","error":"signal: killed"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := marshalJSON(t, tt.msg); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestStartRequestFromSDKJSON(t *testing.T) {
	// Shape of the request the JS SDK sends for commands.run.
	in := `{"process":{"cmd":"/bin/bash","args":["-l","-c","echo hi"],"envs":{"A":"1"},"cwd":"/tmp"},"stdin":false}`
	var req process.StartRequest
	if err := protojson.Unmarshal([]byte(in), &req); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	if req.Stdin == nil || req.GetStdin() {
		t.Errorf("stdin = %v, want explicitly false", req.Stdin)
	}
	if req.Pty != nil || req.Tag != nil {
		t.Errorf("pty/tag set: %v %v", req.Pty, req.Tag)
	}
	if got := req.GetProcess().GetArgs(); len(got) != 3 || got[2] != "echo hi" {
		t.Errorf("args = %q", got)
	}
	if req.GetProcess().GetCwd() != "/tmp" || req.GetProcess().GetEnvs()["A"] != "1" {
		t.Errorf("process = %v", req.GetProcess())
	}
}

func TestEntryInfoJSON(t *testing.T) {
	e := &filesystem.EntryInfo{
		Name:          "a.txt",
		Type:          filesystem.FileType_FILE_TYPE_FILE,
		Path:          "/home/user/a.txt",
		Size:          1234,
		Mode:          0o644,
		Permissions:   "-rw-r--r--",
		Owner:         "user",
		Group:         "user",
		ModifiedTime:  timestamppb.New(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)),
		SymlinkTarget: proto.String("/x"),
	}
	want := `{"name":"a.txt","type":"FILE_TYPE_FILE","path":"/home/user/a.txt","size":"1234","mode":420,` +
		`"permissions":"-rw-r--r--","owner":"user","group":"user","modifiedTime":"2025-01-02T03:04:05Z","symlinkTarget":"/x"}`
	if got := marshalJSON(t, e); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}

	w := &filesystem.CreateWatcherResponse{WatcherId: "w1"}
	if got, want := marshalJSON(t, w), `{"watcherId":"w1"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestEnumNames(t *testing.T) {
	tests := []struct {
		got, want string
		num, wnum int32
	}{
		{process.Signal_SIGNAL_SIGKILL.String(), "SIGNAL_SIGKILL", int32(process.Signal_SIGNAL_SIGKILL), 9},
		{process.Signal_SIGNAL_SIGTERM.String(), "SIGNAL_SIGTERM", int32(process.Signal_SIGNAL_SIGTERM), 15},
		{filesystem.FileType_FILE_TYPE_FILE.String(), "FILE_TYPE_FILE", int32(filesystem.FileType_FILE_TYPE_FILE), 1},
		{filesystem.FileType_FILE_TYPE_DIRECTORY.String(), "FILE_TYPE_DIRECTORY", int32(filesystem.FileType_FILE_TYPE_DIRECTORY), 2},
		{filesystem.FileType_FILE_TYPE_SYMLINK.String(), "FILE_TYPE_SYMLINK", int32(filesystem.FileType_FILE_TYPE_SYMLINK), 3},
		{filesystem.EventType_EVENT_TYPE_CREATE.String(), "EVENT_TYPE_CREATE", int32(filesystem.EventType_EVENT_TYPE_CREATE), 1},
		{filesystem.EventType_EVENT_TYPE_CHMOD.String(), "EVENT_TYPE_CHMOD", int32(filesystem.EventType_EVENT_TYPE_CHMOD), 5},
	}
	for _, tt := range tests {
		if tt.got != tt.want || tt.num != tt.wnum {
			t.Errorf("enum %s=%d, want %s=%d", tt.got, tt.num, tt.want, tt.wnum)
		}
	}

	req := &process.SendSignalRequest{
		Process: &process.ProcessSelector{Selector: &process.ProcessSelector_Pid{Pid: 7}},
		Signal:  process.Signal_SIGNAL_SIGKILL,
	}
	if got, want := marshalJSON(t, req), `{"process":{"pid":7},"signal":"SIGNAL_SIGKILL"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestProcedures(t *testing.T) {
	if got, want := processconnect.ProcessStartProcedure, "/process.Process/Start"; got != want {
		t.Errorf("ProcessStartProcedure = %q, want %q", got, want)
	}
	if got, want := filesystemconnect.FilesystemListDirProcedure, "/filesystem.Filesystem/ListDir"; got != want {
		t.Errorf("FilesystemListDirProcedure = %q, want %q", got, want)
	}

	// Every RPC with its streaming kind: [client streams, server streams].
	check := func(sd protoreflect.ServiceDescriptor, want map[string][2]bool) {
		t.Helper()
		if sd.Methods().Len() != len(want) {
			t.Errorf("%s has %d methods, want %d", sd.FullName(), sd.Methods().Len(), len(want))
		}
		for name, kind := range want {
			md := sd.Methods().ByName(protoreflect.Name(name))
			if md == nil {
				t.Errorf("%s: missing method %s", sd.FullName(), name)
				continue
			}
			if got := [2]bool{md.IsStreamingClient(), md.IsStreamingServer()}; got != kind {
				t.Errorf("%s: streaming = %v, want %v", md.FullName(), got, kind)
			}
		}
	}
	unary, server, client := [2]bool{}, [2]bool{false, true}, [2]bool{true, false}
	check(process.File_process_process_proto.Services().ByName("Process"), map[string][2]bool{
		"List": unary, "Connect": server, "Start": server, "Update": unary,
		"StreamInput": client, "SendInput": unary, "SendSignal": unary, "CloseStdin": unary,
	})
	check(filesystem.File_filesystem_filesystem_proto.Services().ByName("Filesystem"), map[string][2]bool{
		"Stat": unary, "MakeDir": unary, "Move": unary, "ListDir": unary, "Remove": unary,
		"WatchDir": server, "CreateWatcher": unary, "GetWatcherEvents": unary, "RemoveWatcher": unary,
	})
}

func TestFieldDescriptors(t *testing.T) {
	field := func(m proto.Message, name string) protoreflect.FieldDescriptor {
		t.Helper()
		fd := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			t.Fatalf("%T has no field %s", m, name)
		}
		return fd
	}

	in := field(&process.StreamInputRequest_DataEvent{}, "input")
	if in.Number() != 2 {
		t.Errorf("StreamInputRequest.DataEvent.input number = %d, want 2", in.Number())
	}
	if got := in.Message().FullName(); got != "process.ProcessInput" {
		t.Errorf("StreamInputRequest.DataEvent.input type = %s", got)
	}

	if got := field(&process.ProcessEvent_EndEvent{}, "exit_code").Kind(); got != protoreflect.Sint32Kind {
		t.Errorf("EndEvent.exit_code kind = %v, want sint32", got)
	}
	if got := field(&filesystem.EntryInfo{}, "size").Kind(); got != protoreflect.Int64Kind {
		t.Errorf("EntryInfo.size kind = %v, want int64", got)
	}
	if got := (&process.ProcessEvent_StartEvent{}).ProtoReflect().Descriptor().FullName(); got != "process.ProcessEvent.StartEvent" {
		t.Errorf("StartEvent full name = %s", got)
	}

	// proto3 optional fields.
	for _, fd := range []protoreflect.FieldDescriptor{
		field(&process.ProcessConfig{}, "cwd"),
		field(&process.ProcessInfo{}, "tag"),
		field(&process.StartRequest{}, "pty"),
		field(&process.StartRequest{}, "tag"),
		field(&process.StartRequest{}, "stdin"),
		field(&process.UpdateRequest{}, "pty"),
		field(&process.ProcessEvent_EndEvent{}, "error"),
		field(&filesystem.EntryInfo{}, "symlink_target"),
		field(&filesystem.FilesystemEvent{}, "entry"),
	} {
		if !fd.HasOptionalKeyword() {
			t.Errorf("%s is not optional", fd.FullName())
		}
	}
}
