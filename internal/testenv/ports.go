package testenv

import (
	"net"
	"strconv"
	"testing"
)

// FreeAddr returns a loopback address whose port nothing listens on now,
// and whose next extra ports are free too (etcd's peer port is its client
// port + 1, for one).
func FreeAddr(tb testing.TB, extra int) string {
	tb.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		ok := true
		for i := 1; i <= extra && ok; i++ {
			next, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+i)))
			if err != nil {
				ok = false
				continue
			}
			_ = next.Close() // a probe; only that it could listen matters
		}
		if err := l.Close(); err != nil {
			tb.Fatal(err)
		}
		if ok {
			return l.Addr().String()
		}
	}
	tb.Fatal("no free loopback port")
	return ""
}

// FreePort returns a loopback TCP port that nothing listens on now.
func FreePort(tb testing.TB) int {
	tb.Helper()
	_, p, err := net.SplitHostPort(FreeAddr(tb, 0))
	if err != nil {
		tb.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		tb.Fatal(err)
	}
	return port
}
