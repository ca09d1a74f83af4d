package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/elastic/go-elasticsearch/v8"
	gojson "github.com/goccy/go-json"

	"github.com/shopflow/shopflow/domain"
)

// ErrUnavailable marks a failure that retrying later may cure: Elasticsearch unreachable,
// overloaded (429) or failing (5xx). The read API answers 503 for it.
var ErrUnavailable = errors.New("projections: elasticsearch unavailable")

// ErrNotFound is returned (wrapped) for a document that is not in the read model. It wraps
// domain.ErrNotFound, so the API's error mapping answers 404.
var ErrNotFound = fmt.Errorf("projections: document %w", domain.ErrNotFound)

// esError is an error answer of Elasticsearch. It matches ErrUnavailable when retryable.
type esError struct {
	Status int
	Type   string
	Reason string
}

func (e *esError) Error() string {
	return fmt.Sprintf("elasticsearch %d %s: %s", e.Status, e.Type, e.Reason)
}

// Is makes a retryable answer match ErrUnavailable.
func (e *esError) Is(target error) bool { return target == ErrUnavailable && e.retryable() }

func (e *esError) retryable() bool { return e.Status == http.StatusTooManyRequests || e.Status >= 500 }

// isStatus reports whether err is an Elasticsearch answer with the given status.
func isStatus(err error, status int) bool {
	var ee *esError
	return errors.As(err, &ee) && ee.Status == status
}

// isType reports whether err is an Elasticsearch answer with the given error type.
func isType(err error, typ string) bool {
	var ee *esError
	return errors.As(err, &ee) && ee.Type == typ
}

// esClient is the part of the Elasticsearch REST API the projections use, sent through the
// official client's transport (connection pool, product check). Safe for concurrent use.
type esClient struct{ es *elasticsearch.Client }

// do sends one request and returns the body of a 2xx answer; any other answer is an
// *esError, and a transport failure wraps ErrUnavailable.
func (c esClient) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	data, contentType, err := encodeBody(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, path, bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("projections: %s %s: %w", method, path, err)
	}
	if data != nil {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.es.Perform(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrUnavailable, method, path, err)
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: read answer: %w", ErrUnavailable, method, path, err)
	}
	if res.StatusCode >= 300 {
		return out, fmt.Errorf("%s %s: %w", method, path, parseError(res.StatusCode, out))
	}
	return out, nil
}

// encodeBody returns the request body: nil, raw bytes (NDJSON for _bulk) or a value sent
// as JSON.
func encodeBody(body any) ([]byte, string, error) {
	switch b := body.(type) {
	case nil:
		return nil, "", nil
	case []byte:
		return b, "application/x-ndjson", nil
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, "", fmt.Errorf("projections: encode request: %w", err)
		}
		return data, "application/json", nil
	}
}

// parseError reads Elasticsearch's error answer; the body of a 404 GET has no error object.
func parseError(status int, body []byte) *esError {
	var answer struct {
		Error json.RawMessage `json:"error"`
	}
	e := &esError{Status: status}
	if json.Unmarshal(body, &answer) != nil || len(answer.Error) == 0 {
		e.Reason = string(body)
		return e
	}
	var detail struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(answer.Error, &detail) != nil {
		e.Reason = string(answer.Error)
		return e
	}
	e.Type, e.Reason = detail.Type, detail.Reason
	return e
}

// decode unmarshals an answer into v, with goccy/go-json: answers are most of the read
// API's work in Go, and it decodes them several times faster than encoding/json.
func decode(data []byte, v any) error {
	if err := gojson.Unmarshal(data, v); err != nil {
		return fmt.Errorf("projections: decode elasticsearch answer: %w", err)
	}
	return nil
}
