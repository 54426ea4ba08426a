package launch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sandwire/sandwire/podmanapi"
	"github.com/sandwire/sandwire/wiring"
)

// Defaults of WatchOptions.
const (
	DefaultWatchBackoff    = 500 * time.Millisecond
	DefaultWatchMaxBackoff = 10 * time.Second
)

// WatchOptions are how Watch follows the podman service; nil, or a zero
// field, means the default.
type WatchOptions struct {
	// Grace is the sweep's grace period (zero means DefaultSweepGrace):
	// state whose container the server does not know is left alone until
	// it is this old, since prepare writes state before the caller's own
	// podman creates the container.
	Grace time.Duration
	// Backoff is the first wait before reconnecting after a failure
	// (DefaultWatchBackoff); each failure in a row doubles it, up to
	// MaxBackoff (DefaultWatchMaxBackoff).
	Backoff, MaxBackoff time.Duration
}

func (o *WatchOptions) withDefaults() (WatchOptions, error) {
	var w WatchOptions
	if o != nil {
		w = *o
	}
	if w.Grace < 0 || w.Backoff < 0 || w.MaxBackoff < 0 {
		return w, fmt.Errorf("%w: the watch's grace period and backoffs must not be negative", ErrInvalidArgument)
	}
	w.Grace = cmpOr(w.Grace, DefaultSweepGrace)
	w.Backoff = cmpOr(w.Backoff, DefaultWatchBackoff)
	w.MaxBackoff = max(cmpOr(w.MaxBackoff, DefaultWatchMaxBackoff), w.Backoff)
	return w, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Watch follows the podman service's events until ctx ends and cleans up
// after every wired container of this sandbox that is removed — by podman
// rm, by --rm when it exits, by a prune, by compose down, by any client —
// as Cleanup does: its tokens are revoked, its firewall is torn down and
// its sidecar, runtime dir and run state are removed. A container that
// merely stopped or died keeps everything. Wired containers are known by
// their sidecar label (wiring.SidecarLabel), which podman's events carry.
//
// Watch resumes where it left off. The time of the last event it handled
// is kept in the state dir (wiring.WatchCursorPath), and every connection
// asks the server for the events since then, so a removal while the
// stream was down, while the service restarted or while Watch itself was
// not running is replayed and handled. A replayed removal whose name was
// launched again since is left alone: when the server has a container of
// that name, or the name's state was laid down after the removal, the
// state is the new launch's.
//
// On every connection Watch also sweeps, as Sweep does with opts.Grace,
// for what no event tells (an events log rotated away, the state of a
// container removed before the first watch). State whose container never
// existed is only swept once it is older than the grace period: prepare
// writes it before the caller's own podman creates the container. Watch
// sweeps again when the youngest stray comes of age.
//
// When the service cannot be reached, the stream drops or a cleanup
// fails, Watch waits and reconnects, with backoff. What it did and each
// failure go to the notes. It returns nil once ctx ends, and an error only
// when it cannot watch at all: bad options, or a service on another
// machine, whose containers use none of this machine's state.
func (s *Sandbox) Watch(ctx context.Context, opts *WatchOptions) error {
	o, err := opts.withDefaults()
	if err != nil {
		return err
	}
	w := &watcher{sb: s, opts: o}
	w.resume(time.Now())
	delay := o.Backoff
	for ctx.Err() == nil {
		started := time.Now()
		handled, err := w.session(ctx)
		var remote *podmanapi.RemoteHostError
		switch {
		case ctx.Err() != nil:
		case errors.As(err, &remote):
			return err
		case errors.Is(err, errSweepDue):
			delay = o.Backoff
		default:
			if handled || time.Since(started) > o.MaxBackoff {
				delay = o.Backoff
			}
			s.note(fmt.Sprintf("watch: %v; retrying in %s", err, delay))
			if !sleep(ctx, delay) {
				return nil
			}
			delay = min(2*delay, o.MaxBackoff)
		}
	}
	return nil
}

// errSweepDue ends a session when a stray comes of age.
var errSweepDue = errors.New("a sweep is due")

// watcher is one Watch's progress.
type watcher struct {
	sb   *Sandbox
	opts WatchOptions
	// since is the time of the last event handled, or where the first
	// watch began.
	since time.Time
}

// resume starts from the cursor a watch left in the state dir or, when
// there is none, from now, and records that start, so that a watch that
// stops before any event still resumes from where it began.
func (w *watcher) resume(now time.Time) {
	cur, ok, err := wiring.ReadWatchCursor(w.sb.cfg)
	if err != nil {
		w.sb.note(fmt.Sprintf("WARNING: %v; following the events from now on", err))
	}
	if ok {
		w.since = cur.Time
		return
	}
	w.since = now
	w.save(wiring.WatchCursor{Time: now})
}

func (w *watcher) save(cur wiring.WatchCursor) {
	if err := wiring.WriteWatchCursor(w.sb.cfg, cur); err != nil {
		w.sb.note(fmt.Sprintf("WARNING: the watch cannot keep its place: %v", err))
	}
}

// session is one connection: a sweep, then the removals since w.since
// until the stream ends or the next sweep is due. It reports whether it
// handled any event.
func (w *watcher) session(ctx context.Context) (handled bool, err error) {
	srv, err := w.sb.connect(ctx)
	if err != nil {
		return false, err
	}
	if err := srv.RequireLocal("watching for removed containers"); err != nil {
		return false, err
	}
	due, err := w.sweep(ctx)
	if err != nil {
		return false, err
	}
	stream, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if !due.IsZero() {
		timer := time.AfterFunc(time.Until(due), func() { cancel(errSweepDue) })
		defer timer.Stop()
	}
	// Not a label filter too: podman before 5 matches one only as
	// key=value, and the sidecar label's value differs per container.
	filters := map[string][]string{"type": {"container"}, "event": {"remove"}}
	w.sb.note("watch: following the removals of wired containers since " + w.since.Format(time.RFC3339Nano))
	err = srv.Events(stream, func(ev podmanapi.Event) error {
		if err := w.handle(ctx, srv, ev); err != nil {
			return err
		}
		handled = true
		w.since = ev.Time
		w.save(wiring.WatchCursor{Time: ev.Time, ID: ev.ID, Name: ev.Name})
		return nil
	}, &podmanapi.EventsOptions{Since: w.since, Filters: filters})
	if cause := context.Cause(stream); errors.Is(cause, errSweepDue) {
		return handled, cause
	}
	return handled, err
}

// sweep removes the state of names whose containers are gone, as Sweep
// does, and says when to sweep again: when the youngest stray comes of
// age, or soon when a stray could not be swept; zero when nothing waits.
// Only a server that cannot be asked is an error: without its list,
// nothing is removed.
func (w *watcher) sweep(ctx context.Context) (due time.Time, err error) {
	live, err := w.sb.liveNames(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("sweeping: %w", err)
	}
	now := time.Now()
	rep, err := wiring.Sweep(ctx, w.sb.cfg, live, wiring.SweepOptions{Grace: w.opts.Grace, Now: now, Tokens: w.sb.tokens})
	for _, name := range rep.Swept {
		w.sb.note(fmt.Sprintf("watch: swept %q: its container is gone; tokens revoked, sandbox state removed", name))
	}
	if len(rep.Busy) > 0 {
		w.sb.note(fmt.Sprintf("watch: the sweep left %q: a launch or cleanup holds them", rep.Busy))
	}
	if err != nil {
		w.sb.note(fmt.Sprintf("watch: the sweep failed: %v", err))
	}
	if err != nil || len(rep.Busy) > 0 {
		due = now.Add(w.opts.MaxBackoff)
	}
	if len(rep.Young) > 0 {
		states, err := wiring.ListStates(w.sb.cfg)
		if err != nil {
			return now.Add(w.opts.MaxBackoff), nil
		}
		for _, st := range states {
			if !live[st.Name] {
				if at := st.ModTime.Add(w.opts.Grace); at.After(now) && (due.IsZero() || at.Before(due)) {
					due = at
				}
			}
		}
	}
	return due, nil
}

// handle cleans up after one event: a removal of a container whose
// sidecar label is this sandbox's sidecar of that name. Anything else, and
// a name launched again since the removal, is left alone.
func (w *watcher) handle(ctx context.Context, srv Server, ev podmanapi.Event) error {
	name, cfg := ev.Name, w.sb.cfg
	if ev.Type != "container" || ev.Action != "remove" || wiring.ValidateName(name) != nil ||
		ev.Attributes[wiring.SidecarLabel] != cfg.SidecarPath(name) {
		return nil
	}
	// Asked under the name's lock: a launch of the name between the check
	// and the cleanup would otherwise lose its state.
	var kept string
	found, err := w.sb.cleanup(ctx, name, func() (bool, error) {
		data, err := inspect(ctx, srv, name)
		if err != nil {
			return false, fmt.Errorf("checking whether %q exists again: %w", name, err)
		}
		if data != nil {
			kept = "was removed and exists again; its state is left to the new container"
			return true, nil
		}
		launched, ok, err := wiring.LaunchedAt(cfg, name)
		if err != nil {
			return false, err
		}
		if ok && launched.After(ev.Time) {
			kept = "was removed and launched again since; its state is left to the new launch"
			return true, nil
		}
		return false, nil
	})
	if kept != "" {
		w.sb.note(fmt.Sprintf("watch: %q %s", name, kept))
		return nil
	}
	if err != nil {
		return fmt.Errorf("cleaning up after %q: %w", name, err)
	}
	if found {
		w.sb.note(fmt.Sprintf("watch: %q was removed: tokens revoked, sandbox state removed", name))
	}
	return nil
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
