package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ofstack/ofs/internal/testenv"
)

// startProcess runs the ofs binary with args until the test ends, and
// waits for want in its output.
func startProcess(t *testing.T, want string, args ...string) *testenv.Buffer {
	t.Helper()
	cmd := exec.Command(binary, args...)
	out := &testenv.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the test is over, however it ended
		if err := <-done; err == nil {
			t.Logf("ofs %s exited by itself before the kill", args[0])
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("ofs %s exited: %v\n%s", args[0], err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ofs %s: no %q within 2 minutes:\n%s", args[0], want, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return out
}

// browser starts a headless Chromium of the test's own (Debian's chromium,
// which deploy/dev/tools.sh installs) and returns a tab's context.
func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	path := testenv.Tool(t, "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// screenshot saves the page as docs/console/<name>.png when
// OFS_CONSOLE_SCREENSHOTS names the folder to write them to.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("OFS_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// do runs steps within 30 seconds.
func do(ctx context.Context, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// run1 runs one action within 30 seconds.
func run1[T any](ctx context.Context, a chromedp.Action[T]) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return chromedp.Run(ctx, a)
}

// waitText polls the text of sel until it holds every one of want.
func waitText(t *testing.T, ctx context.Context, url, sel string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		text := ""
		err := do(ctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS(sel)))
		if err == nil {
			text, err = run1(ctx, chromedp.Text(chromedp.CSS(sel)))
		}
		missing := ""
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = w
				break
			}
		}
		if err == nil && missing == "" {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %v; lacks %q in:\n%s", url, sel, err, missing, text)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestConsole drives the console of `ofs dev` in a real headless Chromium:
// search (and "/" to reach it, and the back button), a group's page, the
// registry's history, a dead letter produced with kcat, a key's values with
// the tier that answered; then a plan applied through an `ofs serve` with
// tokens, refused with a reader token and applied with a writer token,
// which makes a second version that the group's page shows.
func TestConsole(t *testing.T) {
	kcat := testenv.Tool(t, "kcat")
	etcd := testenv.FreeAddr(t, 1) // its peer port is the next one
	kafka, grpcAddr, metrics, con := testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0)
	out := startProcess(t, "Press Ctrl-C to stop.", "dev", "--kafka-addr", kafka, "--etcd-addr", etcd,
		"--grpc-addr", grpcAddr, "--metrics-addr", metrics, "--console-addr", con)
	base := "http://" + con
	if !strings.Contains(out.String(), "Console:  "+base+"/") {
		t.Fatalf("the next steps do not name the console:\n%s", out.String())
	}
	ctx := browser(t, 1200, 900)

	t.Run("search", func(t *testing.T) {
		if err := do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#q")),
			chromedp.KeyEvent("/")); err != nil {
			t.Fatal(err)
		}
		focused, err := run1(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
		if err != nil {
			t.Fatal(err)
		}
		if focused != "q" {
			t.Errorf(`"/" focused %q, want the search box`, focused)
		}
		if err := do(ctx, chromedp.KeyEvent("ctr")); err != nil {
			t.Fatal(err)
		}
		if typed, err := run1(ctx, chromedp.Value(chromedp.CSS("#q"))); err != nil || !strings.HasSuffix(typed, "ctr") {
			// (chromedp sends the "/" as a key press and a char of its own: the
			// page's preventDefault stops the first only, so "/ctr" is fine.)
			t.Errorf("typing after / put %q in the search box (%v)", typed, err)
		}
		// The search form is a GET: its URL is the search, to copy or go back to.
		text := waitText(t, ctx, base+"/?q=ctr", "#results", "ctr_1h", "fp32", "group user_activity")
		if strings.Contains(text, "user_profile") {
			t.Errorf("a search for ctr lists user_profile:\n%s", text)
		}
		screenshot(t, ctx, "discover")
		// The result links to the feature's row; back returns to the search.
		err = do(ctx, chromedp.Click(chromedp.CSS(`#results a[href*="f-ctr_1h"]`)), chromedp.WaitVisible(chromedp.CSS("#features")))
		url, _ := run1(ctx, chromedp.Location())
		if err != nil || !strings.HasSuffix(url, "/groups/user_activity#f-ctr_1h") {
			t.Fatalf("the result leads to %s (%v)", url, err)
		}
		// history.back() as the button does (chromedp's NavigateBack waits for
		// an event that a page restored from the back-forward cache never sends).
		if _, err := run1(ctx, chromedp.Evaluate[bool](`history.back(), true`)); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); !strings.HasSuffix(url, "/?q=ctr") && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			url, _ = run1(ctx, chromedp.Location())
		}
		// Read by script: chromedp's DOM queries do not see a restored page.
		shown, err := run1(ctx, chromedp.Evaluate[string](`document.querySelector("#results")?.innerText ?? ""`))
		if err != nil || !strings.HasSuffix(url, "/?q=ctr") || !strings.Contains(shown, "ctr_1h") {
			t.Fatalf("back leads to %s (%v)", url, err)
		}
		// A narrow window keeps every part readable.
		narrow := browser(t, 390, 844)
		waitText(t, narrow, base+"/?q=user", "#results", "user_profile")
		screenshot(t, narrow, "discover-narrow")
	})

	t.Run("group", func(t *testing.T) {
		text := waitText(t, ctx, base+"/groups/user_profile", "main", "Version 1", "active", "embedding", "fp16[16]",
			"720h0m0s", "unknown", "online")
		if !strings.Contains(text, "Active version\n1") && !strings.Contains(text, "Active version1") {
			t.Logf("group page:\n%s", text)
		}
		screenshot(t, ctx, "group")
	})

	t.Run("history", func(t *testing.T) {
		waitText(t, ctx, base+"/history?kind=feature+group&name=user_activity", "#commands",
			"ApplyFeatureGroup feature group user_activity", "ofs-apply:", "applied, revision", "+ feature ctr_1h fp32 default 0.01")
		screenshot(t, ctx, "history")
	})

	t.Run("dead letter", func(t *testing.T) {
		event := `user/user_activity/8|{"entity":"user","keys":{"user_id":8},"feature_group":"user_activity","values":{"clickz_1h":3}}` + "\n"
		produce := exec.Command(kcat, "-b", kafka, "-t", "ofs.features", "-P", "-K", "|", "-X", "partitioner=murmur2_random")
		produce.Stdin = strings.NewReader(event)
		if b, err := produce.CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v\n%s", err, b)
		}
		// The page refreshes itself: load it once and wait for the live part.
		if err := do(ctx, chromedp.Navigate(base+"/freshness"), chromedp.WaitVisible(chromedp.CSS("#live"))); err != nil {
			t.Fatal(err)
		}
		var text string
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(text, "clickz_1h") {
			if time.Now().After(deadline) {
				t.Fatalf("the dead letter does not appear:\n%s", text)
			}
			time.Sleep(500 * time.Millisecond)
			var err error
			if text, err = run1(ctx, chromedp.Text(chromedp.CSS("#dead"))); err != nil {
				t.Fatal(err)
			}
		}
		for _, want := range []string{"unknown_feature", `"clickz_1h":3`, "key user/user_activity/8"} {
			if !strings.Contains(text, want) {
				t.Errorf("the dead letter lacks %q:\n%s", want, text)
			}
		}
		if rates, err := run1(ctx, chromedp.Text(chromedp.CSS("#rates"))); err != nil || !strings.Contains(rates, "user_activity") {
			t.Errorf("the ingest table lacks user_activity (%v):\n%s", err, rates)
		}
		screenshot(t, ctx, "freshness")
	})

	t.Run("look up", func(t *testing.T) {
		url := base + "/lookup?entity=user&key=2"
		waitText(t, ctx, url, "main", "user_activity: found", "user_profile: found")
		// Looked up just now, the groups with an L1 policy answer from it.
		text := waitText(t, ctx, url, "main", `"IN"`, "answered by L1", "block version 1")
		if !strings.Contains(text, "clicks_1h") || !strings.Contains(text, "event time 20") {
			t.Errorf("the look-up lacks values or the event time:\n%s", text)
		}
		screenshot(t, ctx, "lookup")
		text = waitText(t, ctx, base+"/lookup?entity=user&key=404", "main", "user_profile: defaults")
		if !strings.Contains(text, `"unknown"`) {
			t.Errorf("key 404 lacks the default country:\n%s", text)
		}
	})

	t.Run("server time", func(t *testing.T) {
		// Not asserted (timings never are): logged for docs/console.md.
		for _, p := range []string{"/", "/?q=ctr", "/groups/user_profile", "/entities/user", "/history",
			"/history/3", "/plan", "/freshness", "/freshness?part=live", "/lookup?entity=user&key=2"} {
			var worst string
			var worstMS float64
			for range 20 {
				resp, err := http.Get(base + p)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: %s", p, resp.Status)
				}
				st := resp.Header.Get("Server-Timing")
				var ms float64
				if _, err := fmt.Sscanf(st, "app;dur=%g", &ms); err != nil {
					t.Fatalf("%s: Server-Timing %q", p, st)
				}
				if ms > worstMS {
					worstMS, worst = ms, st
				}
			}
			t.Logf("server time %-28s worst of 20: %s", p, worst)
		}
	})

	t.Run("plan and apply", func(t *testing.T) {
		dir := t.TempDir()
		serveCon, serveGRPC := testenv.FreeAddr(t, 0), testenv.FreeAddr(t, 0)
		cfg := fmt.Sprintf(`kafka: {brokers: [%q], feature_partitions: 4}
etcd: {endpoints: [%q]}
grpc: {addr: %q}
metrics: {addr: none}
console: {addr: %q}
auth: {reader_tokens: [reader-secret], writer_tokens: [writer-secret]}
stores: {default: {pebble: {dir: %q}}}
log: {level: warn}
`, kafka, etcd, serveGRPC, serveCon, filepath.Join(dir, "store"))
		cfgFile := filepath.Join(dir, "ofs.yaml")
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		startProcess(t, "console", "serve", "--config", cfgFile, "--log-level", "info")
		sbase := "http://" + serveCon
		waitUp(t, sbase+"/login")

		yaml := func(features string) string {
			return "feature_groups:\n  - name: console_demo\n    entity: user\n    store: online\n    ttl: 1h\n" +
				"    description: Made from the console's test.\n    tags: {owner: growth}\n    features:\n" + features
		}
		v1 := yaml("      - {name: visits, type: int64}\n")
		v2 := yaml("      - {name: visits, type: int64}\n      - {name: last_page, type: string, default: home}\n")
		login := func(token string) {
			t.Helper()
			err := do(ctx, chromedp.Navigate(sbase+"/plan"), chromedp.WaitVisible(chromedp.CSS("#token")),
				chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#token")),
				chromedp.WaitVisible(chromedp.CSS("#yaml")))
			if err != nil {
				t.Fatalf("sign in: %v", err)
			}
		}
		submit := func(doc, button string) string {
			t.Helper()
			err := do(ctx, chromedp.Navigate(sbase+"/plan"), chromedp.WaitVisible(chromedp.CSS("#yaml")),
				chromedp.SetValue(chromedp.CSS("#yaml"), doc), chromedp.Click(chromedp.CSS("#"+button)),
				chromedp.WaitVisible(chromedp.CSS("#plan-output")))
			text := ""
			if err == nil {
				text, err = run1(ctx, chromedp.Text(chromedp.CSS("main")))
			}
			if err != nil {
				t.Fatalf("%s: %v", button, err)
			}
			return text
		}

		login("reader-secret")
		text := submit(v1, "do-plan")
		for _, want := range []string{"+ feature group console_demo (id", "version 1, 1 features)", "Dry run: nothing was applied."} {
			if !strings.Contains(text, want) {
				t.Errorf("the plan lacks %q:\n%s", want, text)
			}
		}
		screenshot(t, ctx, "plan")
		text = submit(v1, "do-apply")
		if !strings.Contains(text, "Applying needs a writer token") || strings.Contains(text, "Applied:") {
			t.Fatalf("a reader applied:\n%s", text)
		}
		waitText(t, ctx, sbase+"/?q=console_demo", "main", "Nothing matches")

		if err := do(ctx, chromedp.Navigate(sbase+"/"), chromedp.Click(chromedp.CSS(`footer button`)), chromedp.WaitVisible(chromedp.CSS("#token"))); err != nil {
			t.Fatal(err)
		}
		login("writer-secret")
		if text = submit(v1, "do-apply"); !strings.Contains(text, "Applied:") || !strings.Contains(text, "+ feature group console_demo") {
			t.Fatalf("the writer's apply:\n%s", text)
		}
		if text = submit(v2, "do-apply"); !strings.Contains(text, "~ feature group console_demo (version 1 -> 2, + [last_page])") {
			t.Fatalf("the second version's apply:\n%s", text)
		}
		screenshot(t, ctx, "applied")
		// A refusal names the group, the feature and the rule, as the CLI does.
		text = submit(yaml("      - {name: visits, type: string}\n"), "do-plan")
		if !strings.Contains(text, `! feature group console_demo: feature group "console_demo" feature "visits"`) ||
			!strings.Contains(text, "would be rejected; nothing was applied") {
			t.Errorf("the refused plan:\n%s", text)
		}
		screenshot(t, ctx, "plan-refused")

		text = waitText(t, ctx, sbase+"/groups/console_demo", "main", "Version 2", "Version 1", "active", "last_page",
			`+ last_page string default "home"`, "owner=growth")
		if !strings.Contains(text, "1h0m0s") {
			t.Errorf("the group page lacks the TTL:\n%s", text)
		}
		screenshot(t, ctx, "group-versions")
		waitText(t, ctx, sbase+"/history?kind=feature+group&name=console_demo", "#commands", "ofs-console@",
			"+ feature last_page string default \"home\"")
		waitText(t, ctx, sbase+"/?q=growth", "#results", "console_demo")
	})
}

func waitUp(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not up: %v", url, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
