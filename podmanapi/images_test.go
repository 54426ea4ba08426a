package podmanapi_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/sandwire/sandwire/podmanapi"
)

func TestParsePullPolicyTakesPodmansSpellings(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want podmanapi.PullPolicy
	}{
		{"", podmanapi.PullMissing},
		{"missing", podmanapi.PullMissing},
		{"IfNotPresent", podmanapi.PullMissing},
		{"always", podmanapi.PullAlways},
		{"Never", podmanapi.PullNever},
		{"ifnewer", podmanapi.PullNewer},
	} {
		if got, err := podmanapi.ParsePullPolicy(tc.in); err != nil || got != tc.want {
			t.Errorf("ParsePullPolicy(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := podmanapi.ParsePullPolicy("sometimes"); err == nil || !strings.Contains(err.Error(), `"sometimes"`) {
		t.Errorf("ParsePullPolicy(sometimes) = %v, want an error naming the value", err)
	}
}

func TestPullSendsPodmansQuery(t *testing.T) {
	verify, retry, delay := false, uint(2), 1500*time.Millisecond
	cases := []struct {
		name string
		opts podmanapi.PullOptions
		want url.Values
	}{
		{
			name: "the zero options pull a missing image quietly",
			want: url.Values{"reference": {testImage}, "policy": {"missing"}, "quiet": {"true"}},
		},
		{
			name: "every flag is passed on, tls-verify flipped as the bindings flip it",
			opts: podmanapi.PullOptions{
				Policy: podmanapi.PullNewer, TLSVerify: &verify, Authfile: "/nonexistent/auth.json",
				OS: "linux", Arch: "arm64", Variant: "v8", Retry: &retry, RetryDelay: &delay, Progress: &bytes.Buffer{},
			},
			want: url.Values{
				"reference": {testImage}, "policy": {"newer"}, "quiet": {"false"}, "tlsVerify": {"false"},
				"authfile": {"/nonexistent/auth.json"}, "os": {"linux"}, "arch": {"arm64"}, "variant": {"v8"},
				"retry": {"2"}, "retrydelay": {"1.5s"},
			},
		},
	}
	dir := t.TempDir()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePodman{pull: pulled("")}
			client, _ := connectTo(t, f, socketPath(dir, i))
			if _, err := client.Pull(context.Background(), testImage, tc.opts); err != nil {
				t.Fatal(err)
			}
			if len(f.pulls) != 1 {
				t.Fatalf("%d pulls reached the server, want 1", len(f.pulls))
			}
			if got := f.pulls[0]; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("the pull's query is %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPullShowsTheServersProgress(t *testing.T) {
	progress := []string{"Trying to pull " + testImage + "...\n", "Copying blob 1234 done\n", "Writing manifest to image destination\n"}
	f := &fakePodman{pull: pulled("", progress...)}
	client, _ := connectTo(t, f, socketPath(t.TempDir(), 0))
	var out bytes.Buffer
	name, err := client.Pull(context.Background(), testImage, podmanapi.PullOptions{Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(progress, ""); out.String() != want {
		t.Errorf("progress %q, want the server's messages %q", out.String(), want)
	}
	if name != testImage {
		t.Errorf("Pull = %q, want the reference itself to create from", name)
	}
}

func TestPullOfATransportReferenceCreatesFromTheImageID(t *testing.T) {
	f := &fakePodman{pull: pulled("")}
	client, _ := connectTo(t, f, socketPath(t.TempDir(), 0))
	name, err := client.Pull(context.Background(), "docker://"+testImage, podmanapi.PullOptions{})
	if err != nil || name != pulledID {
		t.Errorf("Pull = %q, %v; want the pulled image's ID %q", name, err, pulledID)
	}
}

func TestPullFailures(t *testing.T) {
	const answer = "initializing source docker://" + testImage + ": reading manifest latest: manifest unknown"
	cases := []struct {
		name     string
		pull     func(http.ResponseWriter, *http.Request)
		want     error
		category error
	}{
		{
			name: "the registry's refusal in the stream is a pull error with its answer",
			pull: pulled(answer, "Trying to pull "+testImage+"...\n"),
			want: &podmanapi.PullError{Image: testImage, Err: errors.New(answer)}, category: errdefs.ErrNotFound,
		},
		{
			name: "a refused request is an API error with its code",
			pull: func(w http.ResponseWriter, _ *http.Request) {
				writeError(w, http.StatusBadRequest, errors.New("invalid reference format"))
			},
			want:     &podmanapi.APIError{Op: `pulling image "` + testImage + `"`, Code: http.StatusBadRequest},
			category: errdefs.ErrInvalidArgument,
		},
	}
	dir := t.TempDir()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePodman{pull: tc.pull}
			client, _ := connectTo(t, f, socketPath(dir, i))
			_, err := client.Pull(context.Background(), testImage, podmanapi.PullOptions{})
			var pullErr *podmanapi.PullError
			if errors.As(err, &pullErr) {
				if got := pullErr.Error(); !strings.Contains(got, testImage) || !strings.Contains(got, answer) {
					t.Errorf("the error %q does not name the image and the registry's answer", got)
				}
			} else if got := withoutCause(err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Pull = %#v (%v), want %#v", got, err, tc.want)
			}
			if !errors.Is(err, tc.category) {
				t.Errorf("Pull's error %v is not in category %v", err, tc.category)
			}
		})
	}
}

func TestPullWithoutAnAnswer(t *testing.T) {
	t.Run("a server that hangs up is unreachable", func(t *testing.T) {
		f := &fakePodman{pull: func(w http.ResponseWriter, r *http.Request) { hangUp(w, r, nil) }}
		client, uri := connectTo(t, f, socketPath(t.TempDir(), 0))
		_, err := client.Pull(context.Background(), testImage, podmanapi.PullOptions{})
		if got, want := withoutCause(err), (&podmanapi.UnreachableError{URI: uri}); !reflect.DeepEqual(got, want) {
			t.Errorf("Pull = %#v (%v), want %#v", got, err, want)
		}
	})
	t.Run("a pull the caller cancels mid-stream is interrupted", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := &fakePodman{pull: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte(`{"stream":"Trying to pull...\n"}` + "\n"))
			http.NewResponseController(w).Flush()
			cancel()
			<-r.Context().Done()
		}}
		client, _ := connectTo(t, f, socketPath(t.TempDir(), 0))
		_, err := client.Pull(ctx, testImage, podmanapi.PullOptions{Progress: &bytes.Buffer{}})
		var interrupted *podmanapi.InterruptedError
		if !errors.As(err, &interrupted) || !errors.Is(err, context.Canceled) {
			t.Errorf("Pull = %v, want an *InterruptedError", err)
		}
	})
}

func TestImageExistsAsksTheServer(t *testing.T) {
	f := &fakePodman{images: []string{testImage}}
	client, _ := connectTo(t, f, socketPath(t.TempDir(), 0))
	for _, tc := range []struct {
		ref  string
		want bool
	}{{testImage, true}, {"localhost/other:latest", false}} {
		if got, err := client.ImageExists(context.Background(), tc.ref); err != nil || got != tc.want {
			t.Errorf("ImageExists(%q) = %v, %v; want %v", tc.ref, got, err, tc.want)
		}
	}
}
