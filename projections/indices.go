package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Index states, kept in the index's mapping _meta.
const (
	// stateBuilding: a rebuild is filling the index; it is not behind the alias yet.
	stateBuilding = "building"
	// stateCatchingUp: the alias was just swapped to the index and the rebuild is applying
	// the last events the live worker wrote to the old index. Live workers wait on gaps.
	stateCatchingUp = "catching_up"
	// stateLive: the index is complete.
	stateLive = "live"
)

// indexMeta is the _meta of an index's mapping: what it holds and how far it is built.
type indexMeta struct {
	Projection     string `json:"projection"`
	MappingVersion int    `json:"mapping_version"`
	Generation     int    `json:"generation"`
	State          string `json:"state"`
}

// indices manages the versioned indices and the alias of one read model.
type indices struct {
	es    esClient
	cfg   Config
	model model
}

func (ix indices) alias() string { return ix.cfg.Alias(ix.model.name()) }

// body returns the create-index request of a generation: settings, explicit mapping, meta.
func (ix indices) body(meta indexMeta, refresh string, withAlias bool) map[string]any {
	mappings := map[string]any{}
	if err := json.Unmarshal([]byte(ix.model.mapping()), &mappings); err != nil {
		panic("projections: invalid mapping of " + ix.model.name() + ": " + err.Error())
	}
	mappings["_meta"] = meta
	body := map[string]any{
		"settings": map[string]any{
			"number_of_shards": ix.cfg.Shards, "number_of_replicas": ix.cfg.Replicas,
			"refresh_interval": refresh, "analysis": analysis,
		},
		"mappings": mappings,
	}
	if withAlias {
		body["aliases"] = map[string]any{ix.alias(): map[string]any{"is_write_index": true}}
	}
	return body
}

// current returns the index behind the alias, "" if there is no alias.
func (ix indices) current(ctx context.Context) (string, error) {
	data, err := ix.es.do(ctx, http.MethodGet, "/_alias/"+url.PathEscape(ix.alias()), nil)
	if isStatus(err, http.StatusNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var answer map[string]struct {
		Aliases map[string]struct {
			IsWriteIndex *bool `json:"is_write_index"`
		} `json:"aliases"`
	}
	if err := decode(data, &answer); err != nil {
		return "", err
	}
	names := make([]string, 0, len(answer))
	for name, a := range answer {
		if w := a.Aliases[ix.alias()].IsWriteIndex; w == nil || *w {
			names = append(names, name)
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("projections: alias %s has %d write indices %v, want 1", ix.alias(), len(names), names)
	}
	return names[0], nil
}

// ensure makes sure the alias exists, creating generation 1 behind it if it does not, and
// returns the index behind it. Concurrent callers agree: index creation is atomic with the
// alias, and the loser of the race reads the winner's alias.
func (ix indices) ensure(ctx context.Context) (string, error) {
	if name, err := ix.current(ctx); err != nil || name != "" {
		if err == nil {
			if uerr := ix.upgrade(ctx, name); uerr != nil {
				ix.cfg.Log.Warn("index mapping not upgraded: rebuild the read model", "index", name, "err", uerr)
			}
		}
		return name, err
	}
	name := ix.cfg.indexName(ix.model.name(), 1)
	meta := indexMeta{Projection: ix.model.name(), MappingVersion: ix.model.mappingVersion(), Generation: 1, State: stateLive}
	_, err := ix.es.do(ctx, http.MethodPut, "/"+url.PathEscape(name), ix.body(meta, interval(ix.cfg.RefreshInterval), true))
	if err != nil && !isType(err, "resource_already_exists_exception") {
		return "", fmt.Errorf("projections: create %s: %w", name, err)
	}
	current, err := ix.current(ctx)
	if err == nil && current == "" {
		err = fmt.Errorf("projections: %s exists without alias %s (a rebuild is building it)", name, ix.alias())
	}
	return current, err
}

// generations lists the projection's physical indices, oldest generation first.
func (ix indices) generations(ctx context.Context) ([]string, error) {
	pattern := url.PathEscape(ix.alias() + "_v*")
	data, err := ix.es.do(ctx, http.MethodGet, "/_cat/indices/"+pattern+"?format=json&h=index", nil)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		Index string `json:"index"`
	}
	if err := decode(data, &rows); err != nil {
		return nil, err
	}
	var names []string
	for _, r := range rows {
		if generationOf(ix.alias(), r.Index) > 0 {
			names = append(names, r.Index)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return generationOf(ix.alias(), a) - generationOf(ix.alias(), b) })
	return names, nil
}

// generationOf returns the generation of index alias_v<n>, 0 if the name has another form.
func generationOf(alias, index string) int {
	rest, ok := strings.CutPrefix(index, alias+"_v")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// create makes a new generation for a rebuild: not behind the alias, refresh off.
func (ix indices) create(ctx context.Context, generation int) (string, error) {
	name := ix.cfg.indexName(ix.model.name(), generation)
	meta := indexMeta{Projection: ix.model.name(), MappingVersion: ix.model.mappingVersion(), Generation: generation, State: stateBuilding}
	if _, err := ix.es.do(ctx, http.MethodPut, "/"+url.PathEscape(name), ix.body(meta, "-1", false)); err != nil {
		return "", fmt.Errorf("projections: create %s: %w", name, err)
	}
	return name, nil
}

// meta reads the _meta of an index (or of the index behind an alias).
func (ix indices) meta(ctx context.Context, index string) (indexMeta, error) {
	data, err := ix.es.do(ctx, http.MethodGet, "/"+url.PathEscape(index)+"/_mapping", nil)
	if err != nil {
		return indexMeta{}, err
	}
	var answer map[string]struct {
		Mappings struct {
			Meta indexMeta `json:"_meta"`
		} `json:"mappings"`
	}
	if err := decode(data, &answer); err != nil {
		return indexMeta{}, err
	}
	for _, m := range answer {
		return m.Mappings.Meta, nil
	}
	return indexMeta{}, fmt.Errorf("projections: no mapping for %s", index)
}

// upgrade brings the mapping of an index of an older mapping version up to the model's,
// when the newer mapping only adds fields (Elasticsearch refuses any other change: the
// index then stays stale until a rebuild). Indices of the current version are left alone.
func (ix indices) upgrade(ctx context.Context, index string) error {
	meta, err := ix.meta(ctx, index)
	if err != nil || meta.MappingVersion >= ix.model.mappingVersion() {
		return err
	}
	mapping := map[string]any{}
	if err := json.Unmarshal([]byte(ix.model.mapping()), &mapping); err != nil {
		return fmt.Errorf("projections: mapping of %s: %w", ix.model.name(), err)
	}
	meta.MappingVersion = ix.model.mappingVersion()
	mapping["_meta"] = meta
	if _, err := ix.es.do(ctx, http.MethodPut, "/"+url.PathEscape(index)+"/_mapping", mapping); err != nil {
		return fmt.Errorf("projections: upgrade mapping of %s: %w", index, err)
	}
	return nil
}

// setState records the state of a generation in its _meta.
func (ix indices) setState(ctx context.Context, index string, generation int, state string) error {
	meta := indexMeta{Projection: ix.model.name(), MappingVersion: ix.model.mappingVersion(), Generation: generation, State: state}
	_, err := ix.es.do(ctx, http.MethodPut, "/"+url.PathEscape(index)+"/_mapping", map[string]any{"_meta": meta})
	return err
}

// open turns a freshly built index into a live one: normal refresh interval, refreshed.
func (ix indices) open(ctx context.Context, index string) error {
	settings := map[string]any{"index": map[string]any{"refresh_interval": interval(ix.cfg.RefreshInterval)}}
	if _, err := ix.es.do(ctx, http.MethodPut, "/"+url.PathEscape(index)+"/_settings", settings); err != nil {
		return err
	}
	return refresh(ctx, ix.es, index)
}

// swap moves the alias from old (may be "") to next in one _aliases request: readers see
// either index, never none. It fails if the alias is no longer on old (a concurrent swap).
func (ix indices) swap(ctx context.Context, old, next string) error {
	actions := []map[string]any{}
	if old != "" {
		actions = append(actions, map[string]any{"remove": map[string]any{"index": old, "alias": ix.alias(), "must_exist": true}})
	}
	actions = append(actions, map[string]any{"add": map[string]any{"index": next, "alias": ix.alias(), "is_write_index": true}})
	if _, err := ix.es.do(ctx, http.MethodPost, "/_aliases", map[string]any{"actions": actions}); err != nil {
		return fmt.Errorf("projections: swap alias %s from %q to %s: %w", ix.alias(), old, next, err)
	}
	return nil
}

// drop deletes an index; a missing one is not an error.
func (ix indices) drop(ctx context.Context, index string) error {
	_, err := ix.es.do(ctx, http.MethodDelete, "/"+url.PathEscape(index), nil)
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return fmt.Errorf("projections: delete %s: %w", index, err)
	}
	return nil
}

// count returns the number of documents in an index or alias (after its last refresh).
func (ix indices) count(ctx context.Context, index string) (int64, error) {
	data, err := ix.es.do(ctx, http.MethodGet, "/"+url.PathEscape(index)+"/_count", nil)
	if err != nil {
		return 0, err
	}
	var answer struct {
		Count int64 `json:"count"`
	}
	return answer.Count, decode(data, &answer)
}

// refresh makes every acknowledged write of index visible to searches.
func refresh(ctx context.Context, es esClient, index string) error {
	_, err := es.do(ctx, http.MethodPost, "/"+url.PathEscape(index)+"/_refresh", nil)
	return err
}

// interval formats a duration as an Elasticsearch time value in milliseconds.
func interval(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + "ms" }

// errRebuildPending reports an unaliased newer generation: a rebuild running or interrupted.
var errRebuildPending = errors.New("projections: a newer index generation exists (a rebuild is running or was interrupted)")
