package podmanapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/sandwire/sandwire/podmanapi"
)

// podmanEvent is an event as podman's events endpoint writes it
// (entities.ConvertToEntitiesEvent, in the JSON of docker's events
// Message): the labels are the actor's attributes, with the name and
// image beside them.
func podmanEvent(action, name string, at time.Time, labels map[string]string) map[string]any {
	attrs := map[string]string{"name": name, "image": "localhost/img:latest", "podId": ""}
	for k, v := range labels {
		attrs[k] = v
	}
	return map[string]any{
		"status": action, "id": "c0ffee-" + name, "from": "localhost/img:latest",
		"Type": "container", "Action": action,
		"Actor": map[string]any{"ID": "c0ffee-" + name, "Attributes": attrs},
		"scope": "local", "time": at.Unix(), "timeNano": at.UnixNano(),
	}
}

// streamEvents answers with the events, one JSON document a line, flushed
// one by one, then holds the stream open until hold is closed or the
// client goes, or ends it at once when hold is nil. It sends each
// request's query to queries.
func streamEvents(queries chan<- url.Values, hold <-chan struct{}, events ...map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		queries <- r.URL.Query()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		flusher := w.(http.Flusher)
		flusher.Flush()
		enc := json.NewEncoder(w)
		for _, e := range events {
			_ = enc.Encode(e)
			flusher.Flush()
		}
		if hold != nil {
			select {
			case <-hold:
			case <-r.Context().Done():
			}
		}
	}
}

func TestEventsFollowsTheStreamUntilItEnds(t *testing.T) {
	at := time.Date(2025, 6, 7, 8, 9, 10, 111222333, time.UTC)
	labels := map[string]string{"terok.sandbox.sidecar": "/state/sidecar/web.json"}
	queries := make(chan url.Values, 1)
	f := &fakePodman{events: streamEvents(queries, nil,
		podmanEvent("remove", "web", at, labels), podmanEvent("remove", "db", at.Add(time.Second), nil))}
	client, uri := connectTo(t, f, socketPath(t.TempDir(), 0))

	var got []podmanapi.Event
	since := time.Date(2025, 6, 7, 10, 0, 0, 5, time.FixedZone("CEST", 2*3600))
	filters := map[string][]string{"type": {"container"}, "event": {"remove"}, "label": {"terok.sandbox.sidecar"}}
	err := client.Events(t.Context(), func(e podmanapi.Event) error {
		got = append(got, e)
		return nil
	}, &podmanapi.EventsOptions{Since: since, Filters: filters})

	var unreachable *podmanapi.UnreachableError
	if !errors.As(err, &unreachable) || !errors.Is(err, podmanapi.ErrStreamEnded) || unreachable.URI != uri {
		t.Errorf("Events at the stream's end = %v, want an *UnreachableError of %s wrapping ErrStreamEnded", err, uri)
	}
	q := <-queries
	var sentFilters map[string][]string
	if err := json.Unmarshal([]byte(q.Get("filters")), &sentFilters); err != nil || !reflect.DeepEqual(sentFilters, filters) {
		t.Errorf("the request's filters = %q (%v), want %v", q.Get("filters"), err, filters)
	}
	if q.Get("since") != "2025-06-07T08:00:00.000000005Z" || q.Get("stream") != "true" {
		t.Errorf("the request asked since=%q stream=%q, want the time in UTC to the nanosecond, streamed", q.Get("since"), q.Get("stream"))
	}
	want := []podmanapi.Event{
		{Type: "container", Action: "remove", ID: "c0ffee-web", Name: "web", Time: at,
			Attributes: map[string]string{"name": "web", "image": "localhost/img:latest", "podId": "", "terok.sandbox.sidecar": "/state/sidecar/web.json"}},
		{Type: "container", Action: "remove", ID: "c0ffee-db", Name: "db", Time: at.Add(time.Second),
			Attributes: map[string]string{"name": "db", "image": "localhost/img:latest", "podId": ""}},
	}
	if len(got) != len(want) {
		t.Fatalf("handled %d events, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) {
			t.Errorf("event %d at %v, want %v", i, got[i].Time, want[i].Time)
		}
		got[i].Time = want[i].Time
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestEventsStopsWhenTheHandlerFailsOrTheCallerGivesUp(t *testing.T) {
	queries := make(chan url.Values, 2)
	hold := make(chan struct{})
	defer close(hold)
	at := time.Now()
	f := &fakePodman{events: streamEvents(queries, hold, podmanEvent("remove", "a", at, nil), podmanEvent("remove", "b", at, nil))}
	client, _ := connectTo(t, f, socketPath(t.TempDir(), 0))

	errStop := errors.New("stop here")
	calls := 0
	err := client.Events(t.Context(), func(podmanapi.Event) error { calls++; return errStop }, nil)
	if !errors.Is(err, errStop) || calls != 1 {
		t.Errorf("Events with a failing handler = %v after %d calls, want its error after 1", err, calls)
	}
	if q := <-queries; q.Has("since") || q.Has("filters") {
		t.Errorf("nil options sent %v, want neither since nor filters", q)
	}

	ctx, cancel := context.WithCancel(t.Context())
	err = client.Events(ctx, func(e podmanapi.Event) error {
		if e.Name == "b" {
			cancel() // the stream stays open: only the caller ends it
		}
		return nil
	}, nil)
	var interrupted *podmanapi.InterruptedError
	if !errors.As(err, &interrupted) || !errors.Is(err, context.Canceled) {
		t.Errorf("Events after a cancel = %v, want an *InterruptedError", err)
	}
}

func TestEventsRefusedByTheServer(t *testing.T) {
	f := &fakePodman{events: func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusInternalServerError, errors.New("bogus is an invalid filter"))
	}}
	client, _ := connectTo(t, f, socketPath(t.TempDir(), 0))
	err := client.Events(t.Context(), func(podmanapi.Event) error { return nil }, nil)
	var apiErr *podmanapi.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != http.StatusInternalServerError {
		t.Errorf("Events refused with a 500 = %v, want an *APIError of 500", err)
	}
}
