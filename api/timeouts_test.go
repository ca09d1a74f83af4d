package api_test

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shopflow/shopflow/api"
	"github.com/shopflow/shopflow/internal/health"
)

// timedServer serves the API with short timeouts on a loopback port and returns its address.
func timedServer(t *testing.T) string {
	t.Helper()
	e := api.New(withAuth(api.Options{Log: slog.New(slog.DiscardHandler), Health: health.NewChecker(time.Second),
		Registry: prometheus.NewRegistry(),
		Timeouts: api.Timeouts{ReadHeader: 300 * time.Millisecond, Read: 600 * time.Millisecond, MaxHeaderBytes: 8 << 10}}))
	api.RegisterReadRoutes(e, &fakeReads{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.Server.Serve(ln) }()
	t.Cleanup(func() { _ = e.Server.Close() })
	return ln.Addr().String()
}

// closedWithin sends a request that never completes and reports whether the server closed
// the connection within d (reading whatever it answered first).
func closedWithin(t *testing.T, addr, partial string, d time.Duration) (bool, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, partial); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(d))
	answer, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, string(answer)
	}
	return true, string(answer) // EOF or reset: closed
}

// A client that sends half a request is cut off: headers that never end after the
// read-header timeout, a body shorter than its Content-Length after the read timeout
// (see issue 14: such connections were held for more than 150 s).
func TestHalfSentRequestsAreClosed(t *testing.T) {
	addr := timedServer(t)
	deadline := 20 * time.Second // far past the 300 ms and 600 ms timeouts, on a busy machine too
	if closed, _ := closedWithin(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ", deadline); !closed {
		t.Errorf("headers that never end: connection still open after %s", deadline)
	}
	body := "POST /v1/products HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + staffToken +
		"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
	if closed, answer := closedWithin(t, addr, body, deadline); !closed {
		t.Errorf("body short of its Content-Length: connection still open after %s (answered %q)", deadline, answer)
	}
	// A complete request on the same server is served.
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %v, %v", res, err)
	}
	res.Body.Close()
}

// Headers past the limit are refused with 431 and the connection closed.
func TestOversizedHeadersAreRefused(t *testing.T) {
	addr := timedServer(t)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	req := "GET /v1/products HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"
	go func() { _, _ = io.WriteString(conn, req) }()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header: %d, want 431", res.StatusCode)
	}
}
