package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ofstack/ofs/codec"
	"github.com/ofstack/ofs/internal/blocks"
	"github.com/ofstack/ofs/internal/testenv"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/views"
	"github.com/ofstack/ofs/views/registrycopy"
)

func TestGetKeyArguments(t *testing.T) {
	o := getOptions{entity: "user_item", groups: []string{"a", "b"}, features: "a.x,b.y,a.z"}
	req, err := o.request([]string{`42,"sku,1"`, "7,plain"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(req.GetKeys()[0].GetValues(), req.GetKeys()[1].GetValues()); got != "[42 sku,1] [7 plain]" {
		t.Errorf("keys %s", got)
	}
	if got := fmt.Sprint(req.GetGroups()[0].GetFeatures(), req.GetGroups()[1].GetFeatures()); got != "[x z] [y]" || !req.GetTypedValues() {
		t.Errorf("features %s, typed %v", got, req.GetTypedValues())
	}
	for _, tc := range []struct {
		o    getOptions
		args []string
		want string
	}{
		{getOptions{groups: []string{"a"}}, []string{"1"}, "--entity is required"},
		{getOptions{entity: "e"}, []string{"1"}, "--group is required"},
		{getOptions{entity: "e", groups: []string{"a", "a"}}, []string{"1"}, "--group a is given twice"},
		{getOptions{entity: "e", groups: []string{"a", "b"}, features: "x"}, []string{"1"}, "name it group.feature"},
		{getOptions{entity: "e", groups: []string{"a", "b"}, features: "c.x"}, []string{"1"}, "c is not one of the --group values"},
		{getOptions{entity: "e", groups: []string{"a", "b"}, features: "a.x"}, []string{"1"}, "names no feature of group b"},
		{getOptions{entity: "e", groups: []string{"a"}}, []string{""}, "a key argument is empty"},
		{getOptions{entity: "e", groups: []string{"a"}}, []string{`1,"x`}, `key "1,\"x"`},
	} {
		if _, err := tc.o.request(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v %q: %v, want %q", tc.o, tc.args, err, tc.want)
		}
	}
}

// writeBlock stores one block of group's active version for key, as the
// ingest processor would.
func writeBlock(t *testing.T, store *views.Redis, reg *schema.Registry, group string, key []string, set func(*codec.Builder)) {
	t.Helper()
	g, ok := reg.FeatureGroup(group)
	if !ok {
		t.Fatalf("no group %s in the registry", group)
	}
	l, err := blocks.NewLayout(g.Active())
	if err != nil {
		t.Fatal(err)
	}
	b := codec.NewBuilder(l)
	set(b)
	at := time.Now().Add(-time.Minute).UnixMicro()
	data, err := b.Append(nil, at, codec.NeverExpires)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Write(context.Background(), []views.Block{{
		Key: views.Key{Entity: g.Entity, Values: key}, Group: g.ID, Data: data, EventTime: at}}); err != nil {
		t.Fatal(err)
	}
}

// serveExample runs `ofs process registry` and `ofs serve` over the dev
// Redis (keys under the test's prefix), with extraYAML added to their
// configuration, and applies the example registry; it returns the
// environment of more ofs commands, the server's address and the prefix.
func serveExample(t *testing.T, extraYAML string) (env []string, addr, prefix string) {
	t.Helper()
	env, addr, prefix = publishEnv(t)
	cfgFile := filepath.Join(t.TempDir(), "ofs.yaml")
	cfg := fmt.Sprintf("stores:\n  default:\n    redis:\n      addrs: [%q]\n      key_prefix: %q\n", testenv.Redis(t), prefix+":") + extraYAML
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env = append(env, "OFS_CONFIG="+cfgFile)
	start(t, env, "process", "registry")
	start(t, env, "serve")
	waitServing(t, addr)
	applyExample(t, env)
	return env, addr, prefix
}

func TestGetPrintsStoredValues(t *testing.T) {
	env, addr, prefix := serveExample(t, "")
	redisAddr, keyPrefix := testenv.Redis(t), prefix+":"

	etcd, err := clientv3.New(clientv3.Config{Endpoints: testenv.Etcd(t), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg, err := registrycopy.Load(ctx, etcd, registrycopy.Root(prefix))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	store, err := views.NewRedis(rdb, views.RedisPrefix(keyPrefix))
	if err != nil {
		t.Fatal(err)
	}
	emb := make([]float32, 16)
	for i := range emb {
		emb[i] = float32(i) / 2
	}
	// user_profile: age, country, is_premium, lifetime_value, embedding[16].
	writeBlock(t, store, reg, "user_profile", []string{"42"}, func(b *codec.Builder) {
		b.SetInt64(0, 31)
		b.SetString(1, "DE")
		b.SetBool(2, true)
		b.SetFloat64(3, 1234.5)
		b.SetFloat32s(4, emb)
	})
	writeBlock(t, store, reg, "user_item_affinity", []string{"42", "a,b"}, func(b *codec.Builder) {
		b.SetFloat32(0, 0.75)
		b.SetUint64(1, 3)
	})

	out, err := run(t, env, "get", "--addr", addr, "--entity", "user", "--group", "user_profile", "42", "7")
	if err != nil {
		t.Fatalf("get: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	wantLines := []string{
		`^user_id +found +age +country +is_premium +lifetime_value +embedding$`,
		`^42 +true +31 +DE +true +1234\.5 +\[0 0\.5 1 1\.5 2 2\.5 3 3\.5 …\]$`,
		`^7 +false +-1 +unknown +false +0 +\[0 0 0 0 0 0 0 0 …\]$`,
	}
	if len(lines) != len(wantLines) {
		t.Fatalf("get printed %d lines, want %d:\n%s", len(lines), len(wantLines), out)
	}
	for i, re := range wantLines {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d %q does not match %s", i+1, lines[i], re)
		}
	}
	out, err = run(t, env, "get", "--addr", addr, "--entity", "user", "--group", "user_profile", "--features", "embedding", "--full", "42")
	if err != nil || !strings.Contains(out, "[0 0.5 1 1.5 2 2.5 3 3.5 4 4.5 5 5.5 6 6.5 7 7.5]") {
		t.Fatalf("get --full: %v\n%s", err, out)
	}

	// Two groups, chosen features, a composite key with a comma.
	out, err = run(t, env, "get", "--addr", addr, "--entity", "user", "--group", "user_profile", "--group", "user_activity",
		"--features", "user_activity.ctr_1h,user_profile.age", "42")
	if err != nil || !regexp.MustCompile(`(?m)^user_id +found:user_profile +found:user_activity +age +ctr_1h\n42 +true +false +31 +0\.01$`).MatchString(out) {
		t.Fatalf("get two groups: %v\n%s", err, out)
	}

	// --json: one object per key.
	out, err = run(t, env, "get", "--addr", addr, "--json", "--entity", "user_item", "--group", "user_item_affinity", `42,"a,b"`, "42,c")
	if err != nil {
		t.Fatalf("get --json: %v\n%s", err, out)
	}
	type row struct {
		Keys   map[string]string          `json:"keys"`
		Found  map[string]bool            `json:"found"`
		Values map[string]json.RawMessage `json:"values"`
	}
	var rows []row
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var r row
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("get --json line %q: %v", l, err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 2 ||
		fmt.Sprint(rows[0].Keys) != "map[sku:a,b user_id:42]" || !rows[0].Found["user_item_affinity"] ||
		string(rows[0].Values["score"]) != "0.75" || string(rows[0].Values["last_seen_days"]) != "3" ||
		rows[1].Found["user_item_affinity"] || string(rows[1].Values["last_seen_days"]) != "65535" {
		t.Fatalf("get --json:\n%s\nparsed %+v", out, rows)
	}
	out, err = run(t, env, "get", "--addr", addr, "--json", "--entity", "user", "--group", "user_profile", "42")
	var one row
	if err != nil || json.Unmarshal([]byte(out), &one) != nil {
		t.Fatalf("get --json user: %v\n%s", err, out)
	}
	var embOut []float32
	if err := json.Unmarshal(one.Values["embedding"], &embOut); err != nil || fmt.Sprint(embOut) != fmt.Sprint(emb) ||
		string(one.Values["country"]) != `"DE"` || string(one.Values["is_premium"]) != "true" || string(one.Values["lifetime_value"]) != "1234.5" {
		t.Fatalf("get --json user: %v\n%s", err, out)
	}

	// The server's refusals, worded by the server; exit status 1.
	for _, args := range [][]string{
		{"--entity", "nobody", "--group", "user_profile", "42"},
		{"--entity", "user", "--group", "nothing", "42"},
		{"--entity", "user", "--group", "user_profile", "--features", "nope", "42"},
		{"--entity", "user", "--group", "user_profile", "abc"},
	} {
		_, stderr, code := runSplit(t, env, "", append([]string{"get", "--addr", addr}, args...)...)
		if code != 1 || !strings.HasPrefix(stderr, "ofs: retrieve: InvalidArgument: ") {
			t.Errorf("get %v: exit %d, %q; want 1 and the server's InvalidArgument", args, code, stderr)
		}
	}
	if _, _, code := runSplit(t, env, "", "get", "--addr", addr, "--entity", "user", "--group", "a", "--group", "b", "--features", "x", "1"); code != 2 {
		t.Errorf("get with an unqualified feature and two groups: exit %d, want 2", code)
	}

	// A server that wants a reader token: refused without it, served with
	// OFS_TOKEN.
	authAddr := testenv.FreeAddr(t, 0)
	authCfg := filepath.Join(t.TempDir(), "auth.yaml")
	cfg := fmt.Sprintf("stores:\n  default:\n    redis:\n      addrs: [%q]\n      key_prefix: %q\n", redisAddr, keyPrefix)
	if err := os.WriteFile(authCfg, []byte(cfg+"auth:\n  reader_tokens: [r-secret]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	authEnv := slices.Concat(env, []string{"OFS_CONFIG=" + authCfg, "OFS_GRPC_ADDR=" + authAddr})
	start(t, authEnv, "serve")
	waitServing(t, authAddr)
	_, stderr, code := runSplit(t, env, "", "get", "--addr", authAddr, "--entity", "user", "--group", "user_profile", "42")
	if code != 1 || !strings.Contains(stderr, "Unauthenticated") {
		t.Errorf("get without a token: exit %d, %q; want Unauthenticated", code, stderr)
	}
	out, err = run(t, slices.Concat(env, []string{"OFS_TOKEN=r-secret"}), "get", "--addr", authAddr, "--entity", "user", "--group", "user_profile", "42")
	if err != nil || !strings.Contains(out, "1234.5") {
		t.Errorf("get with OFS_TOKEN: %v\n%s", err, out)
	}
}
