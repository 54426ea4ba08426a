package podmanapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/errorhandling"
	"github.com/containers/podman/v5/pkg/specgen"
	"go.podman.io/storage"

	"github.com/sandwire/sandwire/podmanapi"
)

const (
	testImage = "localhost/sw-test:latest"
	testName  = "sw-box"
)

// connectTo starts f on a socket in dir and connects to it with a
// configuration that names no connection.
func connectTo(t *testing.T, f *fakePodman, path string) (*podmanapi.Client, string) {
	t.Helper()
	usePodmanConfig(t, "", nil)
	uri := f.start(t, path)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := podmanapi.Connect(ctx, podmanapi.Options{URL: uri})
	if err != nil {
		t.Fatalf("Connect(%s): %v", uri, err)
	}
	return client, uri
}

func testSpec() *specgen.SpecGenerator {
	s := specgen.NewSpecGenerator(testImage, false)
	s.Name = testName
	return s
}

// withoutCause is a copy of err with its Err field zeroed: the tests
// compare the classification, not the bindings' wording of the cause.
func withoutCause(err error) error {
	v := reflect.ValueOf(err)
	if err == nil || v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return err
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	if f := c.Elem().FieldByName("Err"); f.IsValid() {
		f.Set(reflect.Zero(f.Type()))
	}
	return c.Interface().(error)
}

func TestCreateClassifiesTheServersRefusal(t *testing.T) {
	dir := t.TempDir()
	// The causes podman's create handler meets, in this test's words.
	nameTaken := fmt.Errorf("the name %q belongs to another container: %w", testName, define.ErrCtrExists)
	imageUnknown := fmt.Errorf("looking up the image: %w", storage.ErrImageUnknown)
	noNetwork := fmt.Errorf("looking up the network: %w", define.ErrNoSuchNetwork)
	cases := []struct {
		name               string
		images, containers []string
		answer             int
		cause              error
		want               error
	}{
		{
			name:   "a 409 is a name in use",
			images: []string{testImage}, answer: http.StatusConflict, cause: nameTaken,
			want: &podmanapi.NameInUseError{Name: testName},
		},
		{
			name:   "a 404 while the image is missing is an image not found (podman 5's answer)",
			answer: http.StatusNotFound, cause: imageUnknown,
			want: &podmanapi.ImageNotFoundError{Image: testImage},
		},
		{
			name:   "a 500 while the image is missing is an image not found (podman 4's answer)",
			answer: http.StatusInternalServerError, cause: imageUnknown,
			want: &podmanapi.ImageNotFoundError{Image: testImage},
		},
		{
			name:   "a 500 while the name exists is a name in use (podman's answer to a taken name)",
			images: []string{testImage}, containers: []string{testName},
			answer: http.StatusInternalServerError, cause: nameTaken,
			want: &podmanapi.NameInUseError{Name: testName},
		},
		{
			name:       "a missing image is told before a taken name",
			containers: []string{testName},
			answer:     http.StatusInternalServerError, cause: imageUnknown,
			want: &podmanapi.ImageNotFoundError{Image: testImage},
		},
		{
			name:   "a 404 while the name exists is no name conflict",
			images: []string{testImage}, containers: []string{testName},
			answer: http.StatusNotFound, cause: noNetwork,
			want: &podmanapi.APIError{Code: http.StatusNotFound},
		},
		{
			name:   "a 500 with the image present and the name free is an API error with its code",
			images: []string{testImage},
			answer: http.StatusInternalServerError, cause: errors.New("the runtime failed"),
			want: &podmanapi.APIError{Code: http.StatusInternalServerError},
		},
		{
			name:   "a 400 is an API error with its code",
			images: []string{testImage},
			answer: http.StatusBadRequest, cause: errors.New("invalid rlimit"),
			want: &podmanapi.APIError{Code: http.StatusBadRequest},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakePodman{images: tc.images, containers: tc.containers, create: refused(tc.answer, tc.cause)}
			client, _ := connectTo(t, f, socketPath(dir, i))
			_, err := client.Create(context.Background(), testSpec())
			if got := withoutCause(err); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Create = %#v (%v), want %#v", got, err, tc.want)
			}
			var model *errorhandling.ErrorModel
			if !errors.As(err, &model) || model.ResponseCode != tc.answer || model.Because != errorhandling.Cause(tc.cause).Error() {
				t.Errorf("Create's error %v does not carry the server's answer %d %q", err, tc.answer, errorhandling.Cause(tc.cause))
			}
		})
	}
}

func TestCreateReturnsTheCreatedContainer(t *testing.T) {
	f := &fakePodman{images: []string{testImage}, create: created("0123abcd", "a warning")}
	client, _ := connectTo(t, f, socketPath(t.TempDir(), 0))
	got, err := client.Create(context.Background(), testSpec())
	if err != nil {
		t.Fatal(err)
	}
	if want := (podmanapi.Created{ID: "0123abcd", Warnings: []string{"a warning"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("Create = %+v, want %+v", got, want)
	}
}

func TestCreateWithoutAnAnswer(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		// answer is the server's behaviour; cancel, when set, is whether
		// the client cancels once the request is in.
		answer func(arrived chan<- struct{}) func(http.ResponseWriter, *http.Request, *specgen.SpecGenerator)
		cancel bool
		want   func(uri string) error
	}{
		{
			name: "a server that hangs up is unreachable",
			answer: func(chan<- struct{}) func(http.ResponseWriter, *http.Request, *specgen.SpecGenerator) {
				return hangUp
			},
			want: func(uri string) error { return &podmanapi.UnreachableError{URI: uri} },
		},
		{
			name:   "a create the caller cancels is interrupted",
			answer: holdUntilGone,
			cancel: true,
			want:   func(string) error { return &podmanapi.InterruptedError{Op: "creating the container"} },
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			arrived := make(chan struct{})
			f := &fakePodman{images: []string{testImage}, create: tc.answer(arrived)}
			client, uri := connectTo(t, f, socketPath(dir, i))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if tc.cancel {
				go func() {
					<-arrived
					cancel()
				}()
			}
			_, err := client.Create(ctx, testSpec())
			if got, want := withoutCause(err), tc.want(uri); !reflect.DeepEqual(got, want) {
				t.Errorf("Create = %#v (%v), want %#v", got, err, want)
			}
		})
	}
}

func TestCreateTurnHoldsBackTheNextCreateOnlyWhereCreatesMustNotOverlap(t *testing.T) {
	cases := []struct {
		name     string
		server   *fakePodman
		heldBack bool
	}{
		{"rootless podman 4", &fakePodman{rootless: true, serverVersion: "4.3.1"}, true},
		{"rootless podman 5", &fakePodman{rootless: true, serverVersion: "5.8.2"}, false},
		{"rootful podman 4", &fakePodman{serverVersion: "4.3.1"}, false},
	}
	dir := t.TempDir()
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			client, _ := connectTo(t, tc.server, socketPath(dir, i))
			done, err := client.CreateTurn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			next, err := client.CreateTurn(ctx)
			var interrupted *podmanapi.InterruptedError
			if tc.heldBack != errors.As(err, &interrupted) {
				t.Fatalf("a second turn while the first is held: %v, want held back %v", err, tc.heldBack)
			}
			if err == nil {
				next()
			}
			done()
			// Once the first turn is over, the next one is taken at once.
			next, err = client.CreateTurn(context.Background())
			if err != nil {
				t.Fatalf("a turn after the first ended: %v", err)
			}
			next()
		})
	}
}
