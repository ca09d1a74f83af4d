package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/shopflow/shopflow/domain"
	"github.com/shopflow/shopflow/internal/kafka"
	"github.com/shopflow/shopflow/projections"
	"github.com/shopflow/shopflow/sagas"
)

// ProjectionsSource names the projection workers' dead letters among the contexts'.
const ProjectionsSource = "projections"

// DeadLetterSources returns the names whose dead letters the console lists: each hosted
// context's reactor, and the projection workers when read models are on.
func (s *Service) DeadLetterSources() []string {
	out := s.Contexts()
	if s.cfg.ES != nil {
		out = append(out, ProjectionsSource)
	}
	return out
}

// deadLetterTopic returns the dead-letter topic of a source.
func (s *Service) deadLetterTopic(source string) (string, error) {
	if c, ok := s.contexts[source]; ok {
		return c.DeadLetterTopic, nil
	}
	if source == ProjectionsSource && s.cfg.ES != nil {
		return s.projectionsConfig().DeadLetterTopic, nil
	}
	return "", notFound("no dead letters of %q (sources: %v)", source, s.DeadLetterSources())
}

// DeadLetter is a parked message as the console shows it.
type DeadLetter struct {
	// ID is "<topic>/<partition>/<offset>", what Redrive takes.
	ID        string    `json:"id"`
	Topic     string    `json:"topic"`
	Source    string    `json:"source"` // "<topic>/<partition>/<offset>" of the original record
	Reactor   string    `json:"reactor,omitempty"`
	Error     string    `json:"error"`
	FailedAt  time.Time `json:"failed_at"`
	AgeSecond float64   `json:"age_seconds"`
	EventType string    `json:"event_type,omitempty"`
	EventID   string    `json:"event_id,omitempty"`
	Key       string    `json:"key"`
	// Payload is the original record's value: JSON when it is JSON, else a string.
	Payload json.RawMessage `json:"payload"`
	// Processed reports that the reactor's inbox holds the message: it was processed since
	// (after a redrive). Nil when unknown (projection letters, records without event id).
	Processed *bool `json:"processed,omitempty"`
}

// DeadLetters lists every dead letter of a source (a context's reactor or the
// projections), oldest first, each with whether its reactor has processed it since.
func (s *Service) DeadLetters(ctx context.Context, source string) ([]DeadLetter, error) {
	raw, err := s.rawLetters(ctx, source)
	if err != nil {
		return nil, err
	}
	out := make([]DeadLetter, len(raw))
	var ids []string
	for i, d := range raw {
		out[i] = letterOf(d)
		if d.EventID != "" {
			ids = append(ids, d.EventID)
		}
	}
	c, ok := s.contexts[source]
	if !ok || len(ids) == 0 {
		return out, nil
	}
	done, err := c.Store.Processed(ctx, sagas.InboxConsumer(source), ids...)
	if err != nil {
		return out, err
	}
	for i := range out {
		if out[i].EventID != "" {
			p := done[out[i].EventID]
			out[i].Processed = &p
		}
	}
	return out, nil
}

func (s *Service) rawLetters(ctx context.Context, source string) ([]sagas.DeadLetter, error) {
	topic, err := s.deadLetterTopic(source)
	if err != nil {
		return nil, err
	}
	return sagas.ListDeadLetters(ctx, s.cfg.Brokers, topic, s.cfg.ClientOpts...)
}

func letterOf(d sagas.DeadLetter) DeadLetter {
	payload := json.RawMessage(d.Value)
	if !json.Valid(d.Value) {
		payload, _ = json.Marshal(string(d.Value))
	}
	l := DeadLetter{ID: d.String(), Topic: d.Topic, Source: fmt.Sprintf("%s/%d/%d", d.SourceTopic, d.SourcePartition, d.SourceOffset),
		Reactor: d.Reactor, Error: d.Error, FailedAt: d.FailedAt, EventType: d.EventType, EventID: d.EventID,
		Key: string(d.Key), Payload: payload}
	if !d.FailedAt.IsZero() {
		l.AgeSecond = time.Since(d.FailedAt).Round(time.Second).Seconds()
	}
	return l
}

// ErrNoLetters is returned (wrapped, with a *domain.ValidationError naming each unknown
// letter's field, letters[i]) by Redrive when asked for letters the topic does not hold.
var ErrNoLetters = errors.New("no such dead letter")

// RedriveResult is what a redrive re-published.
type RedriveResult struct {
	Source      string   `json:"source"`
	Republished []string `json:"republished"`
}

// Redrive re-publishes dead letters of a source to their source topics (sagas.Redrive):
// those named by id ("<topic>/<partition>/<offset>"), or every one with all. The reactor
// that parked a letter tries it again; the others drop it as a duplicate.
func (s *Service) Redrive(ctx context.Context, source string, ids []string, all bool) (RedriveResult, error) {
	res := RedriveResult{Source: source, Republished: []string{}}
	letters, err := s.rawLetters(ctx, source)
	if err != nil {
		return res, err
	}
	if !all {
		chosen, err := pick(letters, ids)
		if err != nil {
			return res, err
		}
		letters = chosen
	}
	if err := sagas.Redrive(ctx, s.cfg.Brokers, letters, s.cfg.ClientOpts...); err != nil {
		return res, fmt.Errorf("console: redrive: %w", err)
	}
	for _, l := range letters {
		res.Republished = append(res.Republished, l.String())
	}
	s.cfg.Log.Info("dead letters redriven", "source", source, "letters", res.Republished)
	return res, nil
}

// pick returns the letters with the given ids; a validation error when there are none, and
// ErrNoLetters with a validation error naming each unknown one.
func pick(letters []sagas.DeadLetter, ids []string) ([]sagas.DeadLetter, error) {
	var v domain.ValidationError
	if len(ids) == 0 {
		v.Add("letters", "name at least one letter, or set all")
		return nil, v.Err()
	}
	var out []sagas.DeadLetter
	for i, id := range ids {
		j := slices.IndexFunc(letters, func(l sagas.DeadLetter) bool { return l.String() == id })
		if j < 0 {
			v.Add(fmt.Sprintf("letters[%d]", i), fmt.Sprintf("%s: %v", id, ErrNoLetters))
			continue
		}
		out = append(out, letters[j])
	}
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoLetters, err)
	}
	return out, nil
}

// projectionsConfig is the read models' configuration with its defaults' topic names.
func (s *Service) projectionsConfig() projections.Config {
	c := s.cfg.Projections
	if c.DeadLetterTopic == "" {
		c.DeadLetterTopic = kafka.DeadLetterTopic(ProjectionsSource)
	}
	return c
}
