package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ofstack/ofs/internal/plan"
	"github.com/ofstack/ofs/schema"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

var funcs = template.FuncMap{
	"groupURL":  func(name string) string { return "/groups/" + url.PathEscape(name) },
	"entityURL": func(name string) string { return "/entities/" + url.PathEscape(name) },
	"historyURL": func(kind, name string) string {
		return "/history?" + url.Values{"kind": {kind}, "name": {name}}.Encode()
	},
	"lookupURL": func(entity string) string { return "/lookup?" + url.Values{"entity": {entity}}.Encode() },
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"tags": func(m map[string]string) string {
		keys := slices.Sorted(maps.Keys(m))
		for i, k := range keys {
			keys[i] = k + "=" + m[k]
		}
		return strings.Join(keys, ", ")
	},
	"dflt": func(f schema.Feature) string { return f.Default.String() },
	"ttl": func(d time.Duration) string {
		if d == 0 {
			return "none"
		}
		return d.String()
	},
	"at": func(xs []string, i int) string {
		if i < len(xs) {
			return xs[i]
		}
		return ""
	},
	"num":  func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) },
	"rate": func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	"secs": func(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) + " s" },
	"diffClass": func(op string) string {
		switch op {
		case "+":
			return "add"
		case "-":
			return "del"
		}
		return "same"
	},
}

// parsePages parses each page with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := templateFSGlob()
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		if n == "layout.html" {
			continue
		}
		t, err := template.New(n).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		pages[strings.TrimSuffix(n, ".html")] = t
	}
	return pages, nil
}

func templateFSGlob() ([]string, error) {
	es, err := templateFS.ReadDir("templates")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out, nil
}

// page is what every template gets.
type page struct {
	Title    string
	Nav      string
	Query    string
	Auth     bool // tokens are configured
	Level    level
	Revision uint64
	Data     any
}

// Writer reports a writer (or no authentication).
func (p page) Writer() bool { return p.Level >= levelWrite }

// render renders a page into a buffer, then sends it with the server time
// it took (Server-Timing, which browsers show in their network panel).
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name, block string, p page) {
	start := time.Now()
	p.Auth, p.Level, p.Revision = s.authEnabled(), s.level(r), s.holder.Load().Revision()
	if p.Query == "" {
		p.Query = r.URL.Query().Get("q")
	}
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, block, p); err != nil {
		s.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "the page did not render: "+err.Error(), http.StatusInternalServerError)
		return
	}
	if t, ok := r.Context().Value(startKey{}).(time.Time); ok {
		start = t
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Server-Timing", fmt.Sprintf("app;dur=%.2f", float64(time.Since(start).Microseconds())/1000))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a client gone away is not ours to handle
}

type startKey struct{}

// timed notes when a request began, for Server-Timing.
func timed(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), startKey{}, time.Now())))
	})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, what string) {
	s.render(w, r, http.StatusNotFound, "error", "layout", page{Title: "Not found", Data: what + " does not exist (or no longer does)."})
}

// ---- sign-in

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	s.render(w, r, http.StatusOK, "login", "layout", page{Title: "Sign in", Data: map[string]string{"Next": safeNext(next)}})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	tok := r.PostFormValue("token")
	next := safeNext(r.PostFormValue("next"))
	if s.tokenLevel(tok) == levelNone {
		s.render(w, r, http.StatusUnauthorized, "login", "layout", page{Title: "Sign in",
			Data: map[string]string{"Next": next, "Error": "That token is not a reader or writer token of this server."}})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: tok, Path: "/", HttpOnly: true, Secure: s.tls != nil,
		SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// safeNext keeps a redirect on this site.
func safeNext(n string) string {
	if !strings.HasPrefix(n, "/") || strings.HasPrefix(n, "//") || strings.Contains(n, "\\") {
		return "/"
	}
	return n
}

// ---- discover

type hit struct {
	Kind, Name, URL, Type, Description, Tags, Where string
}

func (s *Server) discover(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	snap := s.holder.Load()
	reg := snap.Registry()
	words := strings.Fields(strings.ToLower(q))
	matches := func(fields ...string) bool {
		text := strings.ToLower(strings.Join(fields, " "))
		for _, w := range words {
			if !strings.Contains(text, w) {
				return false
			}
		}
		return true
	}
	var hits []hit
	for _, e := range reg.Entities() {
		var keys []string
		for _, k := range e.Keys {
			keys = append(keys, k.Name+" "+k.Type.String())
		}
		tg := funcs["tags"].(func(map[string]string) string)(e.Tags)
		if matches("entity", e.Name, e.Description, tg, strings.Join(keys, " ")) {
			hits = append(hits, hit{Kind: "entity", Name: e.Name, URL: "/entities/" + url.PathEscape(e.Name),
				Type: "key " + strings.Join(keys, ", "), Description: e.Description, Tags: tg})
		}
	}
	for _, g := range reg.FeatureGroups() {
		tg := funcs["tags"].(func(map[string]string) string)(g.Tags)
		gurl := "/groups/" + url.PathEscape(g.Name)
		if matches("feature group", g.Name, g.Entity, g.Store, g.Description, tg) {
			hits = append(hits, hit{Kind: "feature group", Name: g.Name, URL: gurl,
				Type:        fmt.Sprintf("%d features, version %d", len(g.Active().Features), g.Active().Number),
				Description: g.Description, Tags: tg, Where: "entity " + g.Entity})
		}
		for _, f := range g.Active().Features {
			ft := funcs["tags"].(func(map[string]string) string)(f.Tags)
			if q != "" && matches("feature", f.Name, f.Shape(), f.Description, ft, g.Name) {
				hits = append(hits, hit{Kind: "feature", Name: f.Name, URL: gurl + "#f-" + url.PathEscape(f.Name),
					Type: f.Shape(), Description: f.Description, Tags: ft, Where: "group " + g.Name})
			}
		}
	}
	title := "Discover"
	if q != "" {
		title = fmt.Sprintf("Search: %s (%d)", q, len(hits))
	}
	s.render(w, r, http.StatusOK, "discover", "layout", page{Title: title, Nav: "discover", Query: q, Data: hits})
}

func (s *Server) entity(w http.ResponseWriter, r *http.Request) {
	snap := s.holder.Load()
	e, ok := snap.Entity(r.PathValue("name"))
	if !ok {
		s.notFound(w, r, "The entity "+strconv.Quote(r.PathValue("name")))
		return
	}
	s.render(w, r, http.StatusOK, "entity", "layout", page{Title: "Entity " + e.Name, Nav: "discover",
		Data: map[string]any{"Entity": e, "Groups": snap.FeatureGroupsOf(e.Name)}})
}

// versionView is one version of a group with what changed from the one
// before.
type versionView struct {
	*schema.Version
	Active bool
	Diff   []diffLine
}

func (s *Server) group(w http.ResponseWriter, r *http.Request) {
	snap := s.holder.Load()
	g, ok := snap.FeatureGroup(r.PathValue("name"))
	if !ok {
		s.notFound(w, r, "The feature group "+strconv.Quote(r.PathValue("name")))
		return
	}
	var vs []versionView
	var prev []string
	for _, v := range g.Versions {
		lines := make([]string, len(v.Features))
		for i, f := range v.Features {
			lines[i] = fmt.Sprintf("%s %s default %s", f.Name, f.Shape(), f.Default)
		}
		vs = append(vs, versionView{Version: v, Active: v == g.Active(), Diff: diff(prev, lines)})
		prev = lines
	}
	slices.Reverse(vs)
	st, _ := snap.Store(g.Store)
	s.render(w, r, http.StatusOK, "group", "layout", page{Title: "Feature group " + g.Name, Nav: "discover",
		Data: map[string]any{"Group": g, "Versions": vs, "Store": st}})
}

// ---- history

func (s *Server) historyPage(w http.ResponseWriter, r *http.Request) {
	kind, name := r.URL.Query().Get("kind"), r.URL.Query().Get("name")
	title := "History"
	if kind != "" {
		title = "History of " + kind + " " + name
	}
	s.render(w, r, http.StatusOK, "history", "layout", page{Title: title, Nav: "history",
		Data: map[string]any{"Kind": kind, "Name": name, "Entries": s.history.list(kind, name)}})
}

func (s *Server) command(w http.ResponseWriter, r *http.Request) {
	off, err := strconv.ParseInt(r.PathValue("offset"), 10, 64)
	v, ok := s.history.at(off)
	if err != nil || !ok {
		s.notFound(w, r, "The registry command at offset "+strconv.Quote(r.PathValue("offset")))
		return
	}
	s.render(w, r, http.StatusOK, "command", "layout", page{Title: fmt.Sprintf("Command %d: %s %s", off, v.Verb, v.Name),
		Nav: "history", Data: v})
}

// ---- plan

const maxPlanBytes = 4 << 20

type planView struct {
	YAML    string
	Name    string
	Output  string
	Applied bool
	Error   string
	Refused string
}

func (s *Server) planPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "plan", "layout", page{Title: "Plan", Nav: "plan", Data: planView{}})
}

func (s *Server) planPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxPlanBytes)
	v := planView{Name: "pasted.yaml"}
	if err := r.ParseMultipartForm(maxPlanBytes); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		v.Error = "the form did not read: " + err.Error()
	}
	v.YAML = r.FormValue("yaml")
	if f, hdr, err := r.FormFile("file"); err == nil {
		b, rerr := io.ReadAll(f)
		f.Close()
		if rerr != nil {
			v.Error = "the upload did not read: " + rerr.Error()
		} else if len(b) > 0 {
			v.YAML, v.Name = string(b), hdr.Filename
		}
	}
	apply := r.FormValue("action") == "apply"
	status := http.StatusOK
	if v.Error == "" {
		status = s.runPlan(r.Context(), &v, apply && s.level(r) >= levelWrite)
		if apply && s.level(r) < levelWrite {
			v.Refused = "Applying needs a writer token: sign in with one. Nothing was applied; the plan above is a dry run."
			status = http.StatusForbidden
		}
	}
	s.render(w, r, status, "plan", "layout", page{Title: "Plan", Nav: "plan", Data: v})
}

// runPlan prints the plan of v.YAML (and applies it when apply) exactly as
// `ofs apply --dry-run` (or `ofs apply`) prints it.
func (s *Server) runPlan(ctx context.Context, v *planView, apply bool) int {
	if strings.TrimSpace(v.YAML) == "" {
		v.Error = "Paste a registry file or choose one to upload."
		return http.StatusBadRequest
	}
	f, err := plan.ParseFile(v.Name, []byte(v.YAML))
	if err != nil {
		v.Error = err.Error()
		return http.StatusBadRequest
	}
	cmds, err := f.Commands()
	if err != nil {
		v.Error = err.Error()
		return http.StatusBadRequest
	}
	var out bytes.Buffer
	err = plan.Apply(ctx, &out, s.registry, v.Name, cmds, !apply, s.actor)
	v.Output = out.String()
	switch {
	case errors.Is(err, plan.ErrRejected):
		return http.StatusUnprocessableEntity
	case err != nil:
		v.Error = err.Error()
		return http.StatusBadGateway
	}
	v.Applied = apply
	return http.StatusOK
}

// ---- freshness

func (s *Server) freshnessPage(w http.ResponseWriter, r *http.Request) {
	rates, dead, codes := s.fresh.snapshot()
	m, err := gatherIngest(s.metrics)
	for i := range codes {
		codes[i].Counted = m.Rejected[codes[i].Code]
	}
	for code, n := range m.Rejected {
		if n > 0 && !slices.ContainsFunc(codes, func(c codeCount) bool { return c.Code == code }) {
			codes = append(codes, codeCount{Code: code, Counted: n})
		}
	}
	data := map[string]any{"Rates": rates, "Dead": dead, "Codes": codes, "Metrics": m, "Now": s.now()}
	if err != nil {
		data["MetricsError"] = err.Error()
	}
	block := "layout"
	if r.URL.Query().Get("part") == "live" {
		block = "live"
	}
	s.render(w, r, http.StatusOK, "freshness", block, page{Title: "Freshness", Nav: "freshness", Data: data})
}

// ---- look up

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	snap := s.holder.Load()
	q := r.URL.Query()
	data := map[string]any{"Entities": snap.Registry().Entities(), "EntityName": q.Get("entity"), "Keys": q["key"]}
	title := "Look up"
	status := http.StatusOK
	if e, ok := snap.Entity(q.Get("entity")); ok {
		data["Entity"] = e
		keys := q["key"]
		if len(keys) > 0 && strings.Join(keys, "") != "" {
			title = "Look up " + e.Name + " " + strings.Join(keys, ", ")
			if s.readers == nil {
				data["Error"] = "Look-ups are off in this process: it serves no stores."
			} else {
				vals, err := s.lookupKey(r.Context(), snap, e, keys)
				if err != nil {
					data["Error"] = err.Error()
					status = http.StatusBadRequest
				}
				data["Values"] = vals
			}
		}
	} else if q.Get("entity") != "" {
		data["Error"] = "There is no entity " + strconv.Quote(q.Get("entity")) + "."
		status = http.StatusNotFound
	}
	s.render(w, r, status, "lookup", "layout", page{Title: title, Nav: "lookup", Data: data})
}
