package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Client sends commands and reads documents of one Shopflow HTTP API. Safe for concurrent
// use.
type Client struct {
	// Base is the API's root URL, e.g. http://127.0.0.1:8080.
	Base string
	// HTTP is the client requests go through.
	HTTP *http.Client
	// Token, if set, is sent as the bearer token of every request.
	Token string
}

// New returns a client of the API at base with the given per-request timeout and a
// connection pool sized for load (512 idle connections).
func New(base string, timeout time.Duration) *Client {
	return &Client{Base: base, HTTP: &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}}
}

// Created is the answer to a command: the aggregate's id and its stream's version after
// the command (plus the order's status for orders).
type Created struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
	Status  string `json:"status,omitempty"`
}

// Post sends a command with body as JSON and, when idempotencyKey is not empty, that
// Idempotency-Key header, and decodes a 2xx answer into out (if not nil). It returns the
// status (0 when no answer came) and an error for a transport failure or a non-2xx answer
// (its body included).
func (c *Client) Post(ctx context.Context, path, idempotencyKey string, body, out any) (int, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+path, bytes.NewReader(raw))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	return c.do(req, out)
}

// Get reads a document into out (if not nil); it returns the status (0 when no answer came)
// and an error as Post does.
func (c *Client) Get(ctx context.Context, path string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return 0, err
	}
	return c.do(req, out)
}

func (c *Client) do(req *http.Request, out any) (int, error) {
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if res.StatusCode/100 != 2 {
		return res.StatusCode, fmt.Errorf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, bytes.TrimSpace(body))
	}
	if out == nil {
		return res.StatusCode, nil
	}
	return res.StatusCode, json.Unmarshal(body, out)
}
