package main

import (
	"bufio"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ofstack/ofs/internal/testenv"
)

// TestDevDemoAndKcat runs `ofs dev` as a newcomer would: it prints the demo
// table and the next steps; a JSON event produced with kcat to its broker is
// then served by `ofs get`; Ctrl-C (SIGINT) stops it cleanly.
func TestDevDemoAndKcat(t *testing.T) {
	kcat := testenv.Tool(t, "kcat")
	etcd := testenv.FreeAddr(t, 1) // its peer port is the next one
	kafka, grpcAddr, metrics := testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0)
	cmd := exec.Command(binary, "dev", "--kafka-addr", kafka, "--etcd-addr", etcd, "--grpc-addr", grpcAddr,
		"--metrics-addr", metrics, "--console-addr", testenv.FreeAddr(t, 0))
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill() // the test failed before its own stop
			if err := <-done; err == nil {
				t.Log("ofs dev exited cleanly before the kill")
			}
		}
	})

	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Press Ctrl-C to stop.") {
		select {
		case err := <-done:
			stopped = true
			t.Fatalf("ofs dev exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no demo within 2 minutes:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := out.String()
	for _, want := range []string{"+ feature group user_profile", "Published 6 sample events",
		"404      false", "kcat -b " + kafka, binary + " publish --brokers " + kafka, "http://" + metrics + "/metrics", "Nothing is kept"} {
		if !strings.Contains(got, want) {
			t.Errorf("ofs dev output lacks %q", want)
		}
	}
	if !rowHas(got, "2", "32", "IN") {
		t.Errorf("the demo table lacks user 2's age and country:\n%s", got)
	}

	// Every line of the next steps runs as printed (kcat is installed here,
	// so its lines are among them), and the event they publish is served.
	steps := nextStepLines(got)
	if len(steps) < 5 {
		t.Fatalf("only %d command lines in the next steps:\n%s", len(steps), got)
	}
	var read string
	for _, line := range steps {
		for {
			b, err := exec.Command("bash", "-euo", "pipefail", "-c", line).CombinedOutput()
			if err == nil && (!strings.Contains(line, " get ") || rowHas(string(b), "7", "true", "12")) {
				if strings.Contains(line, " get ") {
					read = string(b)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a next step fails: %v\n%s\n%s", err, line, b)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if read == "" {
		t.Fatalf("the next steps read nothing back:\n%s", got)
	}

	event := `user/user_activity/7|{"entity":"user","keys":{"user_id":7},"feature_group":"user_activity","values":{"clicks_1h":12}}` + "\n"
	produce := exec.Command(kcat, "-b", kafka, "-t", "ofs.features", "-P", "-K", "|", "-X", "partitioner=murmur2_random")
	produce.Stdin = strings.NewReader(event)
	if b, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, b)
	}
	for {
		b, err := exec.Command(binary, "get", "--addr", grpcAddr, "--entity", "user", "--group", "user_activity", "--json", "7").CombinedOutput()
		if err == nil && strings.Contains(string(b), `"clicks_1h":12`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kcat event is not served: %v\n%s", err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatalf("ofs dev did not stop cleanly on Ctrl-C: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ofs dev did not stop within 30s of Ctrl-C")
	}
}

// nextStepLines returns the command lines of ofs dev's next steps: four
// spaces in, not a remark in parentheses, continued by a trailing \.
func nextStepLines(out string) []string {
	_, steps, _ := strings.Cut(out, "Next steps")
	var lines []string
	cont := false
	for _, l := range strings.Split(steps, "\n") {
		switch {
		case cont:
			lines[len(lines)-1] += "\n" + l
		case strings.HasPrefix(l, "    ") && !strings.HasPrefix(strings.TrimSpace(l), "("):
			lines = append(lines, strings.TrimSpace(l))
		default:
			continue
		}
		cont = strings.HasSuffix(l, "\\")
	}
	return lines
}

// rowHas reports whether a line of the table starts with key and holds the
// values.
func rowHas(table, key string, values ...string) bool {
	sc := bufio.NewScanner(strings.NewReader(table))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) > 2 && f[0] == key && strings.Contains(strings.Join(f, " "), strings.Join(values, " ")) {
			return true
		}
	}
	return false
}
