package devmode

import (
	"bytes"
	"strings"
	"testing"
)

func TestLoopbackPort(t *testing.T) {
	for _, tc := range []struct {
		addr string
		port int
		ok   bool
	}{
		{"127.0.0.1:9092", 9092, true},
		{"localhost:2379", 2379, true},
		{"[::1]:7070", 7070, true},
		{"0.0.0.0:9092", 0, false},
		{"10.0.0.1:9092", 0, false},
		{"127.0.0.1", 0, false},
	} {
		port, err := LoopbackPort(tc.addr)
		if (err == nil) != tc.ok || port != tc.port {
			t.Errorf("LoopbackPort(%q) = %d, %v; want %d, ok %t", tc.addr, port, err, tc.port, tc.ok)
		}
	}
}

func TestStartedByGoRun(t *testing.T) {
	for _, tc := range []struct {
		exe, gocache string
		want         bool
	}{
		{"/home/u/.cache/go-build/ab/exe/ofs", "", true},
		{"/tmp/go-build123/b001/exe/ofs", "/home/u/.cache/go-build", true},
		{"/cache/x/ofs", "/cache", true},
		{"/usr/local/bin/ofs", "/home/u/.cache/go-build", false},
	} {
		if got := startedByGoRun(tc.exe, tc.gocache); got != tc.want {
			t.Errorf("startedByGoRun(%q, %q) = %t, want %t", tc.exe, tc.gocache, got, tc.want)
		}
	}
}

func TestNextStepsUseOfsCommands(t *testing.T) {
	var b bytes.Buffer
	printNextSteps(&b, nextSteps{ofs: "ofs", brokers: "127.0.0.1:1", etcd: "127.0.0.1:2", grpc: "127.0.0.1:3",
		metrics: "127.0.0.1:4", topic: "ofs.features", console: "none"})
	out := b.String()
	for _, want := range []string{"ofs publish --brokers 127.0.0.1:1 --etcd 127.0.0.1:2 -",
		"ofs get --addr 127.0.0.1:3 --entity user", "http://127.0.0.1:4/metrics"} {
		if !strings.Contains(out, want) {
			t.Errorf("next steps lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Console:") {
		t.Errorf("the console is off, but the next steps name it:\n%s", out)
	}
}
