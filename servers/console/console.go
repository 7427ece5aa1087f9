// Package console is ofs's web console: feature discovery, the registry's
// history, plans of registry files (and applying them), live freshness of
// ingest and a key's values, served as HTML rendered on the server
// (html/template) with its stylesheet and a few lines of script embedded in
// the binary. Every page is a plain URL: links can be copied, the back
// button works, and everything but the live refresh works without
// JavaScript.
package console

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofstack/ofs/internal/plan"
	"github.com/ofstack/ofs/schema"
	"github.com/ofstack/ofs/servers"
	"github.com/ofstack/ofs/topics"
	"github.com/ofstack/ofs/views"
)

// Errors of New.
var (
	// ErrUnprotected: a console on a non-loopback address needs tokens or
	// mutual TLS.
	ErrUnprotected = errors.New("console: a non-loopback address needs reader and writer tokens or mutual TLS")
	// ErrMissing: a required dependency was not given.
	ErrMissing = errors.New("console: missing dependency")
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Locator reads one key's blocks of some feature groups and says which tier
// answered each; views.TieredReader is one.
type Locator interface {
	Locate(ctx context.Context, key views.Key, groups []uint32) ([][]byte, []views.Tier, error)
}

// Readers returns the Locator of a registry store.
type Readers func(store string) (Locator, error)

// Server is the console. Make one with New, then Run it.
type Server struct {
	addr     string
	log      *slog.Logger
	holder   *schema.Holder
	registry plan.Registry
	readers  Readers
	metrics  []prometheus.Gatherer
	tls      *tls.Config
	mtls     bool
	readTok  []string
	writeTok []string
	actor    string
	brokers  []string
	sarama   *sarama.Config
	names    topics.Names
	now      func() time.Time

	pages   map[string]*template.Template
	history *history
	fresh   *freshness
	ready   chan struct{}
	lis     net.Listener
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithTokens sets the reader and writer tokens (the gRPC servers' own): a
// reader token reads every page and plans, a writer token also applies.
// Without any, the console is open, which New allows on loopback only.
func WithTokens(readers, writers []string) Option {
	return func(s *Server) { s.readTok, s.writeTok = readers, writers }
}

// WithTLS serves HTTPS with cfg; mutual says cfg requires and verifies
// client certificates, which New accepts instead of tokens off loopback.
func WithTLS(cfg *tls.Config, mutual bool) Option {
	return func(s *Server) { s.tls, s.mtls = cfg, mutual }
}

// WithReaders sets how the Look up page reads blocks; without it the page
// says it is off.
func WithReaders(r Readers) Option { return func(s *Server) { s.readers = r } }

// WithMetrics adds registries whose ofs metrics the Freshness page shows
// (the process's own; in `ofs dev` it holds the ingest processor's).
func WithMetrics(g ...prometheus.Gatherer) Option {
	return func(s *Server) { s.metrics = append(s.metrics, g...) }
}

// WithActor names the console in the commands it applies (default
// "ofs-console").
func WithActor(a string) Option { return func(s *Server) { s.actor = a } }

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New returns a console listening on addr (bound now, so that the caller
// learns a port 0's port from Addr) over the registry snapshot in holder,
// planning and applying through registry, and reading the registry's and
// the dead letters' topics of names from Kafka.
func New(addr string, holder *schema.Holder, registry plan.Registry, brokers []string, scfg *sarama.Config,
	names topics.Names, opts ...Option,
) (*Server, error) {
	s := &Server{addr: addr, holder: holder, registry: registry, brokers: brokers, sarama: scfg, names: names,
		log: slog.New(slog.DiscardHandler), actor: "ofs-console", now: time.Now, ready: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if holder == nil || registry == nil || scfg == nil || len(brokers) == 0 {
		return nil, fmt.Errorf("%w: the registry holder, the registry service and Kafka are required", ErrMissing)
	}
	if !s.authEnabled() && !s.mtls && !servers.Loopback(addr) {
		return nil, fmt.Errorf("%w: %s", ErrUnprotected, addr)
	}
	if s.authEnabled() && len(s.writeTok) == 0 {
		s.log.Warn("console: no writer token: nobody can apply from the console")
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s.pages = pages
	s.history = newHistory()
	s.fresh = newFreshness(s.now)
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("console: listen on %s: %w", addr, err)
	}
	s.lis = lis
	return s, nil
}

// Addr returns the address the console listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// URL returns the console's base URL.
func (s *Server) URL() string {
	if s.tls != nil {
		return "https://" + s.Addr() + "/"
	}
	return "http://" + s.Addr() + "/"
}

// Ready is closed once the console has read the registry's history to its
// end at start.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run serves until ctx is done, following the registry and dead-letter
// topics and the features topic's traffic.
func (s *Server) Run(ctx context.Context) error {
	consumer, err := sarama.NewConsumer(s.brokers, s.sarama)
	if err != nil {
		s.lis.Close()
		return fmt.Errorf("console: kafka consumer: %w", err)
	}
	defer consumer.Close()
	client, err := sarama.NewClient(s.brokers, s.sarama)
	if err != nil {
		s.lis.Close()
		return fmt.Errorf("console: kafka client: %w", err)
	}
	defer client.Close()
	errc := make(chan error, 4)
	go func() { errc <- s.history.follow(ctx, consumer, s.names, s.ready) }()
	go func() { errc <- s.fresh.follow(ctx, consumer, client, s.names) }()

	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, TLSConfig: s.tls}
	go func() {
		var err error
		if s.tls != nil {
			err = srv.ServeTLS(s.lis, "", "")
		} else {
			err = srv.Serve(s.lis)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	s.log.Info("console", "url", s.URL())
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && ctx.Err() == nil {
			_ = srv.Close() // the error that stops us is err
			return fmt.Errorf("console: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("console: shutdown: %w", err)
	}
	return nil
}

// Handler returns the console's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(http.FileServerFS(static))))
	mux.HandleFunc("GET /login", s.loginPage)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	read := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.need(levelRead, h)) }
	read("GET /{$}", s.discover)
	read("GET /entities/{name}", s.entity)
	read("GET /groups/{name}", s.group)
	read("GET /history", s.historyPage)
	read("GET /history/{offset}", s.command)
	read("GET /plan", s.planPage)
	read("POST /plan", s.planPost) // applying checks for a writer token itself
	read("GET /freshness", s.freshnessPage)
	read("GET /lookup", s.lookup)
	return securityHeaders(timed(mux))
}

func cacheFor(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders keeps the pages out of frames and scripts to our own.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// Access levels.
type level uint8

const (
	levelNone level = iota
	levelRead
	levelWrite
)

const tokenCookie = "ofs_console_token"

func (s *Server) authEnabled() bool { return len(s.readTok)+len(s.writeTok) > 0 }

// level returns what the request's token (the cookie the login form sets,
// or an Authorization: Bearer header) may do.
func (s *Server) level(r *http.Request) level {
	if !s.authEnabled() {
		return levelWrite
	}
	tok := ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		tok = strings.TrimPrefix(h, "Bearer ")
	} else if c, err := r.Cookie(tokenCookie); err == nil {
		tok = c.Value
	}
	return s.tokenLevel(tok)
}

func (s *Server) tokenLevel(tok string) level {
	if tok == "" {
		return levelNone
	}
	if match(tok, s.writeTok) {
		return levelWrite
	}
	if match(tok, s.readTok) {
		return levelRead
	}
	return levelNone
}

func match(tok string, list []string) bool {
	ok := 0
	for _, t := range list {
		ok |= subtle.ConstantTimeCompare([]byte(tok), []byte(t))
	}
	return ok == 1
}

// need sends a request without the level to the login page.
func (s *Server) need(l level, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.level(r) < l {
			http.Redirect(w, r, "/login?next="+urlQueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h.ServeHTTP(w, r)
	})
}
