package main

import (
	"testing"
	"time"
)

func TestTargetIsMetOnItsSideOfTheLimit(t *testing.T) {
	cases := []struct {
		name   string
		value  float64
		atMost bool
		want   bool
	}{
		{"a ratio below an upper limit is met", 0.98, true, true},
		{"a ratio on an upper limit is met", 1.05, true, true},
		{"a ratio above an upper limit is missed", 1.06, true, false},
		{"a throughput above a lower limit is met", 0.97, false, true},
		{"a throughput below a lower limit is missed", 0.94, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			limit := 1.05
			if !tc.atMost {
				limit = 0.95
			}
			if got := target(tc.name, tc.value, tc.atMost, limit); got.Met != tc.want {
				t.Errorf("target(%v, atMost %v, %v).Met = %v, want %v", tc.value, tc.atMost, limit, got.Met, tc.want)
			}
		})
	}
}

func TestServeTargetsFromAReport(t *testing.T) {
	ms := func(m float64) Stats { return Stats{N: 1, Median: m, P95: m} }
	r := &ServeReport{
		CLI:      map[string]Stats{swRun: ms(200), viaServeRun: ms(205), pmRun: ms(190)},
		Requests: map[string]Stats{inspectDirect: ms(1.0), inspectServe: ms(1.6), pingDirect: ms(0.2), pingServe: ms(0.4)},
		Streams: map[string]Stream{
			logsDirect: {Stats: ms(1000)}, logsServe: {Stats: ms(1040)},
			cpDirect: {Stats: ms(500)}, cpServe: {Stats: ms(550)},
		},
		Parallel: Parallel{Clients: 8, PerClient: 50, Leaked: []string{"x: the container"}},
	}
	got := map[string]Target{}
	for _, tg := range serveTargets(r) {
		got[tg.Name] = tg
	}
	want := []struct {
		name  string
		value float64
		met   bool
	}{
		{"(a) run -d: serve / sandwire run -d", 1.025, true},
		{"(b) inspect: serve - direct, ms", 0.6, false},
		{"(b) _ping: serve - direct, ms", 0.2, true},
		{"(c) logs: serve / direct throughput", 1000.0 / 1040, true},
		{"(c) cp: serve / direct throughput", 500.0 / 550, false},
		{"(d) 8x50 creates: unwired", 0, true},
		{"(d) 8x50 creates: left after removal", 1, false},
	}
	if len(got) != len(want) {
		t.Errorf("%d targets, want %d: %v", len(got), len(want), got)
	}
	for _, w := range want {
		g, ok := got[w.name]
		if !ok {
			t.Errorf("no target %q", w.name)
			continue
		}
		if d := g.Value - w.value; d > 1e-9 || d < -1e-9 || g.Met != w.met {
			t.Errorf("%s = %v (met %v), want %v (met %v)", w.name, g.Value, g.Met, w.value, w.met)
		}
	}
}

func TestSummarizeTakesTheMedianAndP95(t *testing.T) {
	var l []time.Duration
	for i := 20; i >= 1; i-- {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	if got := summarize(l); got.N != 20 || got.Median != 11 || got.P95 != 20 {
		t.Errorf("summarize = %+v, want n 20, median 11, p95 20", got)
	}
}

func TestCounterCountsWhatIsWritten(t *testing.T) {
	var c counter
	for _, p := range []string{"abc", "", "de"} {
		if n, err := c.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if c != 5 {
		t.Errorf("counted %d bytes, want 5", c)
	}
}
