package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ofstack/ofs/internal/devbin"
)

// The image's build step, as deploy/docker/Dockerfile runs it.
const imageBuild = "CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags=-s -o /out/ofs ./cmd/ofs"

// imageOfs builds ofs as the image does (the Dockerfile's build step, into
// .dev/bin/ofs-static): once for the package's tests, and again only when
// the code changed.
func imageOfs(t *testing.T) string {
	t.Helper()
	df, err := os.ReadFile(filepath.Join("docker", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), "RUN "+imageBuild+"\n") {
		t.Fatalf("deploy/docker/Dockerfile no longer builds with %q: update the test with it", imageBuild)
	}
	return devbin.Build(t, "ofs-static", []string{"CGO_ENABLED=0"}, "-trimpath", "-buildvcs=false", "-ldflags=-s", "./cmd/ofs")
}

// TestImageBuild runs the Dockerfile's build step (with another output):
// ofs must build as one static binary without cgo.
func TestImageBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary (-short)")
	}
	if b, err := exec.Command(imageOfs(t), "version").CombinedOutput(); err != nil {
		t.Fatalf("the static binary does not run: %v\n%s", err, b)
	}
}

// helm runs the pinned helm (tools/go.mod, built once into .dev/bin) in
// deploy/.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(devbin.Build(t, "helm", nil, "-modfile=tools/go.mod", "helm.sh/helm/v3/cmd/helm"), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String() + errOut.String(), fmt.Errorf("helm %s: %w", strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// render renders the chart with the values given as --set pairs and returns
// its objects by kind and name.
func render(t *testing.T, set ...string) (map[string]map[string]any, error) {
	t.Helper()
	args := make([]string, 0, 7+2*len(set))
	args = append(args, "template", "demo", "helm/ofs", "--namespace", "features", "--kube-version", "1.31.0")
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := helm(t, args...)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	objs := map[string]map[string]any{}
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var o map[string]any
		if err := dec.Decode(&o); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("the rendered chart is not YAML: %v\n%s", err, out)
		}
		if o == nil {
			continue
		}
		objs[o["kind"].(string)+"/"+get(o, "metadata", "name").(string)] = o
	}
	return objs, nil
}

// get walks a decoded YAML document by map keys and list indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

// TestHelmChart renders deploy/helm/ofs and checks what would break a
// deployment without a cluster to show it: the processes and their
// arguments, ports and probes that match what ofs serves, volumes for every
// mount, the configuration accepted by `ofs config check`, secrets as
// environment, and the values the chart refuses.
func TestHelmChart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds helm and ofs (-short)")
	}
	if out, err := helm(t, "lint", "--strict", "--kube-version", "1.31.0", "helm/ofs",
		"--set", "grpcTLS.secretName=ofs-tls", "--set", "grpcTLS.mutual=true"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ofs := imageOfs(t) // the chart runs the image's binary

	objs, err := render(t, "grpcTLS.secretName=ofs-tls", "grpcTLS.mutual=true", "serve.diskCacheBytes=1073741824",
		"secretEnv.OFS_KAFKA_SASL_PASSWORD.secret=ofs-kafka", "secretEnv.OFS_KAFKA_SASL_PASSWORD.key=password",
		"config.kafka.sasl.mechanism=SCRAM-SHA-512", "config.kafka.sasl.username=ofs",
		"metrics.serviceMonitor.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := map[string][]string{"serve": {"serve"}, "ingest": {"process", "ingest"}, "registry": {"process", "registry"}}
	for comp, args := range wantArgs {
		d := objs["Deployment/demo-ofs-"+comp]
		if d == nil {
			t.Fatalf("no Deployment demo-ofs-%s; rendered %v", comp, keys(objs))
		}
		pod := get(d, "spec", "template", "spec")
		c := get(pod, "containers", 0)
		got := fmt.Sprint(get(c, "args"))
		if want := fmt.Sprint(append(toAny(args), "--config=/etc/ofs/config/ofs.yaml")); got != want {
			t.Errorf("%s: args %s, want %s", comp, got, want)
		}
		ports := map[string]int{}
		for _, p := range get(c, "ports").([]any) {
			ports[get(p, "name").(string)] = get(p, "containerPort").(int)
		}
		if ports["metrics"] != 9464 || (comp == "serve") != (ports["grpc"] == 7070) {
			t.Errorf("%s: ports %v", comp, ports)
		}
		env := map[string]any{}
		for _, e := range get(c, "env").([]any) {
			env[get(e, "name").(string)] = e
		}
		if get(env["OFS_METRICS_ADDR"], "value") != "0.0.0.0:9464" {
			t.Errorf("%s: OFS_METRICS_ADDR %v", comp, env["OFS_METRICS_ADDR"])
		}
		if comp == "serve" && get(env["OFS_GRPC_ADDR"], "value") != "0.0.0.0:7070" {
			t.Errorf("serve: OFS_GRPC_ADDR %v", env["OFS_GRPC_ADDR"])
		}
		if ref := get(env["OFS_KAFKA_SASL_PASSWORD"], "valueFrom", "secretKeyRef"); get(ref, "name") != "ofs-kafka" || get(ref, "key") != "password" {
			t.Errorf("%s: the SASL password is not taken from the Secret: %v", comp, env["OFS_KAFKA_SASL_PASSWORD"])
		}
		// /readyz and /healthz are what the metrics server of every process serves
		// (cmd/ofs TestReadyz).
		if get(c, "readinessProbe", "httpGet", "path") != "/readyz" || get(c, "readinessProbe", "httpGet", "port") != "metrics" ||
			get(c, "livenessProbe", "httpGet", "path") != "/healthz" {
			t.Errorf("%s: probes %v %v", comp, get(c, "readinessProbe"), get(c, "livenessProbe"))
		}
		volumes := map[string]bool{}
		for _, v := range get(pod, "volumes").([]any) {
			volumes[get(v, "name").(string)] = true
		}
		for _, m := range get(c, "volumeMounts").([]any) {
			if !volumes[get(m, "name").(string)] {
				t.Errorf("%s: mount %v has no volume", comp, m)
			}
		}
		if comp == "serve" && (!volumes["tls"] || !volumes["cache"]) {
			t.Errorf("serve: volumes %v, want tls and cache", volumes)
		}
		if get(c, "securityContext", "readOnlyRootFilesystem") != true || get(pod, "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: not read-only and non-root", comp)
		}
	}
	if got := get(objs["Service/demo-ofs"], "spec", "ports", 0, "targetPort"); got != "grpc" {
		t.Errorf("the Service targets %v, want the grpc port", got)
	}
	for _, name := range []string{"Service/demo-ofs-headless", "Service/demo-ofs-metrics", "ServiceMonitor/demo-ofs",
		"PodDisruptionBudget/demo-ofs-serve", "PodDisruptionBudget/demo-ofs-ingest"} {
		if objs[name] == nil {
			t.Errorf("no %s", name)
		}
	}

	// The configuration is one that ofs accepts, with the chart's TLS and cache.
	cfgText, _ := get(objs["ConfigMap/demo-ofs"], "data", "ofs.yaml").(string)
	for _, want := range []string{"cert_file: /etc/ofs/tls/tls.crt", "ca_file: /etc/ofs/tls/ca.crt", "disk_dir: /var/cache/ofs",
		"mechanism: SCRAM-SHA-512", "max_connection_age: 5m"} {
		if !strings.Contains(cfgText, want) {
			t.Errorf("ofs.yaml lacks %q:\n%s", want, cfgText)
		}
	}
	file := filepath.Join(t.TempDir(), "ofs.yaml")
	if err := os.WriteFile(file, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	check := exec.Command(ofs, "config", "check", "-c", file)
	check.Env = append(os.Environ(), "OFS_GRPC_ADDR=0.0.0.0:7070", "OFS_METRICS_ADDR=0.0.0.0:9464", "OFS_KAFKA_SASL_PASSWORD=x")
	if b, err := check.CombinedOutput(); err != nil {
		t.Fatalf("ofs config check refuses the chart's configuration: %v\n%s\n---\n%s", err, b, cfgText)
	}

	for set, want := range map[string]string{
		"ingest.replicas=13":  "more than config.kafka.feature_partitions (12)",
		"grpcTLS.mutual=true": "grpcTLS.mutual needs grpcTLS.secretName",
		"config.bogus=1":      "config.bogus is not a field",
		"config.grpc.addr=x":  "config.grpc.addr is set by the chart",
		// No tokens, no mutual TLS: refused unless insecure is said.
		"serve.replicas=1":          "neither tokens",
		"grpcTLS.secretName=t":      "neither tokens",
		"config.grpc.insecure=true": "config.grpc.insecure is set by the chart",
	} {
		if _, err := render(t, set); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--set %s: %v, want a refusal with %q", set, err, want)
		}
	}
}

// TestHelmInsecure: the chart renders a server without tokens or mutual
// TLS only when insecure is true, and then says so in its configuration
// (which `ofs config check` accepts); tokens alone are enough.
func TestHelmInsecure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds helm (-short)")
	}
	objs, err := render(t, "insecure=true")
	if err != nil {
		t.Fatal(err)
	}
	cfgText, _ := get(objs["ConfigMap/demo-ofs"], "data", "ofs.yaml").(string)
	if !strings.Contains(cfgText, "insecure: true") {
		t.Errorf("insecure=true not in ofs.yaml:\n%s", cfgText)
	}
	if _, err := render(t, "secretEnv.OFS_READER_TOKENS.secret=tok", "secretEnv.OFS_READER_TOKENS.key=readers"); err != nil {
		t.Errorf("reader tokens from a secret: %v", err)
	}
}

func keys(m map[string]map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
