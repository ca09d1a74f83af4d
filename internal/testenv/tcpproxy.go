package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// TCPProxy forwards TCP connections to a real server, so that a test can take the server
// away on cue: Cut refuses connections (the port is closed) and Stall black-holes them
// (accepted, never answered); both drop the open ones. Restore forwards again.
type TCPProxy struct {
	t      testing.TB
	target string
	addr   string // the proxy's address, the same across Cut and Restore

	mu      sync.Mutex
	ln      net.Listener // nil while cut
	stalled bool
	conns   map[net.Conn]bool // every open connection, both sides
}

// NewTCPProxy listens on a free local port and forwards to target until the test ends.
func NewTCPProxy(t testing.TB, target string) *TCPProxy {
	t.Helper()
	p := &TCPProxy{t: t, target: target, addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	p.listen()
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.closeLocked()
	})
	return p
}

// listen opens the listener on p.addr and accepts on it.
func (p *TCPProxy) listen() {
	p.t.Helper()
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go p.accept(ln)
}

func (p *TCPProxy) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

// serve forwards one client connection, or holds it unanswered while stalled.
func (p *TCPProxy) serve(client net.Conn) {
	if !p.track(client) {
		return
	}
	if p.isStalled() {
		return // held open and silent until Restore or the end of the test closes it
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(server) {
		client.Close()
		return
	}
	go p.pipe(server, client)
	p.pipe(client, server)
}

// pipe copies src to dst, then closes both.
func (p *TCPProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	for _, c := range []net.Conn{dst, src} {
		c.Close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}
}

// track records c as open; it closes c and returns false if the proxy is cut.
func (p *TCPProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *TCPProxy) isStalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stalled
}

// Addr is the proxy's host:port.
func (p *TCPProxy) Addr() string { return p.addr }

// Cut closes the port and drops every open connection: clients get "connection refused".
func (p *TCPProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeLocked()
}

// Stall drops every open connection and accepts new ones without ever answering.
func (p *TCPProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
	p.dropLocked()
}

// Restore forwards again, on the same port; connections held by Stall are dropped.
func (p *TCPProxy) Restore() {
	p.mu.Lock()
	p.stalled = false
	p.dropLocked()
	cut := p.ln == nil
	p.mu.Unlock()
	if cut {
		p.listen()
	}
}

func (p *TCPProxy) closeLocked() {
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.dropLocked()
}

func (p *TCPProxy) dropLocked() {
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}
