package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/twmb/franz-go/pkg/kgo"
)

// mgetChunk bounds the ids of one _mget request.
const mgetChunk = 1000

// storedDoc is a document as Elasticsearch holds it.
type storedDoc struct {
	source  json.RawMessage
	version int64 // Elasticsearch (external) version
}

// mget reads documents by id from index (or an alias with one index) in real time: it sees
// every acknowledged write, refreshed or not. Missing ids are absent from the map.
func mget(ctx context.Context, es esClient, index string, ids []string) (map[string]storedDoc, error) {
	found := make(map[string]storedDoc, len(ids))
	for start := 0; start < len(ids); start += mgetChunk {
		chunk := ids[start:min(start+mgetChunk, len(ids))]
		data, err := es.do(ctx, http.MethodPost, "/"+url.PathEscape(index)+"/_mget", map[string]any{"ids": chunk})
		if err != nil {
			return nil, fmt.Errorf("projections: mget %s: %w", index, err)
		}
		if err := decodeDocs(data, found); err != nil {
			return nil, err
		}
	}
	return found, nil
}

func decodeDocs(data []byte, into map[string]storedDoc) error {
	var answer struct {
		Docs []struct {
			ID      string          `json:"_id"`
			Found   bool            `json:"found"`
			Version int64           `json:"_version"`
			Source  json.RawMessage `json:"_source"`
			Error   json.RawMessage `json:"error"`
		} `json:"docs"`
	}
	if err := decode(data, &answer); err != nil {
		return err
	}
	for _, d := range answer.Docs {
		if len(d.Error) > 0 {
			return fmt.Errorf("%w: mget %s: %s", ErrUnavailable, d.ID, d.Error)
		}
		if d.Found {
			into[d.ID] = storedDoc{source: d.Source, version: d.Version}
		}
	}
	return nil
}

// write is one document to index with an external version.
type write struct {
	id      string
	version int64
	source  []byte
	// origin are the records whose events the document newly holds: they are dead-lettered
	// if Elasticsearch refuses the document for good.
	origin []*kgo.Record
}

// rejection is a write Elasticsearch refused for good (e.g. a mapping conflict).
type rejection struct {
	write
	err error
}

// bulkOutcome is what a successful _bulk request did besides indexing.
type bulkOutcome struct {
	// rejected are the writes refused for good.
	rejected []rejection
	// superseded are the ids of the writes answered 409: the index holds this version of the
	// document or a newer one, so the write was already applied (or overtaken).
	superseded []string
}

// bulk indexes writes into index with version_type=external in one _bulk request. A 409
// (the index holds this or a newer version) counts as success: the write was already
// applied. It returns the writes refused for good; if any item failed with 429 or 5xx it
// returns an error wrapping ErrUnavailable (retry the batch: every write is idempotent).
//
// When target is an alias, the request requires it to exist: a missing alias must never
// auto-create an index with a guessed mapping.
func bulk(ctx context.Context, es esClient, target string, isAlias bool, ws []write) (bulkOutcome, error) {
	if len(ws) == 0 {
		return bulkOutcome{}, nil
	}
	body, err := bulkBody(target, ws)
	if err != nil {
		return bulkOutcome{}, err
	}
	path := "/_bulk"
	if isAlias {
		path += "?require_alias=true"
	}
	data, err := es.do(ctx, http.MethodPost, path, body)
	if err != nil {
		return bulkOutcome{}, fmt.Errorf("projections: bulk into %s: %w", target, err)
	}
	return bulkResult(data, ws)
}

func bulkBody(index string, ws []write) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, w := range ws {
		action := map[string]any{"index": map[string]any{
			"_index": index, "_id": w.id, "version": w.version, "version_type": "external",
		}}
		if err := enc.Encode(action); err != nil {
			return nil, fmt.Errorf("projections: encode bulk action: %w", err)
		}
		buf.Write(bytes.TrimSpace(w.source))
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

func bulkResult(data []byte, ws []write) (bulkOutcome, error) {
	var answer struct {
		Items []map[string]struct {
			Status int `json:"status"`
			Error  *struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := decode(data, &answer); err != nil {
		return bulkOutcome{}, err
	}
	if len(answer.Items) != len(ws) {
		return bulkOutcome{}, fmt.Errorf("%w: bulk answered %d items for %d writes", ErrUnavailable, len(answer.Items), len(ws))
	}
	var out bulkOutcome
	var retry *esError
	for i, item := range answer.Items {
		r := item["index"]
		if r.Status == http.StatusConflict {
			out.superseded = append(out.superseded, ws[i].id)
		}
		if r.Status < 300 || r.Status == http.StatusConflict {
			continue
		}
		e := &esError{Status: r.Status}
		if r.Error != nil {
			e.Type, e.Reason = r.Error.Type, r.Error.Reason
		}
		if e.retryable() || e.Type == "index_not_found_exception" { // an alias swap raced the request
			retry = e
			continue
		}
		out.rejected = append(out.rejected, rejection{write: ws[i], err: fmt.Errorf("document %s refused: %w", ws[i].id, e)})
	}
	if retry != nil {
		return out, fmt.Errorf("projections: bulk item: %w", retry)
	}
	return out, nil
}
