package podmanapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/containers/podman/v5/pkg/bindings"
	"github.com/containers/podman/v5/pkg/errorhandling"

	"github.com/sandwire/sandwire/podmanapi"
)

// categories are the errdefs categories a podmanapi error may answer;
// errdefs spells "cancelled" as context.Canceled.
var categories = []struct {
	name string
	err  error
}{
	{"invalid argument", errdefs.ErrInvalidArgument},
	{"not found", errdefs.ErrNotFound},
	{"already exists", errdefs.ErrAlreadyExists},
	{"conflict", errdefs.ErrConflict},
	{"failed precondition", errdefs.ErrFailedPrecondition},
	{"unavailable", errdefs.ErrUnavailable},
	{"cancelled", context.Canceled},
}

func apiError(code int) *podmanapi.APIError {
	return &podmanapi.APIError{Code: code, Err: &errorhandling.ErrorModel{Message: "refused", ResponseCode: code}}
}

func TestEachErrorAnswersOneCategory(t *testing.T) {
	cause := errors.New("cause")
	cases := []struct {
		name string
		err  error
		want string // the one category name, or "" for none
	}{
		{"an unreachable service is unavailable", &podmanapi.UnreachableError{URI: "unix:///nowhere.sock", Err: cause}, "unavailable"},
		{"a missing image is not found", &podmanapi.ImageNotFoundError{Image: "img", Err: cause}, "not found"},
		{"an image that could not be pulled is not found", &podmanapi.PullError{Image: "img", Err: cause}, "not found"},
		{"a missing container is not found", &podmanapi.NoSuchContainerError{Name: "ctr", Err: cause}, "not found"},
		{"a taken name already exists", &podmanapi.NameInUseError{Name: "ctr", Err: cause}, "already exists"},
		{"a remote server fails a precondition", &podmanapi.RemoteHostError{URI: "ssh://host", What: "the gate"}, "failed precondition"},
		{"a cancelled request is cancelled", &podmanapi.InterruptedError{Op: "creating", Err: context.Canceled}, "cancelled"},
		{"a request past its deadline is cancelled", &podmanapi.InterruptedError{Op: "creating", Err: context.DeadlineExceeded}, "cancelled"},
		{"a 400 is an invalid argument", apiError(http.StatusBadRequest), "invalid argument"},
		{"a 404 is not found", apiError(http.StatusNotFound), "not found"},
		{"a 409 is a conflict", apiError(http.StatusConflict), "conflict"},
		{"a 500 is in no category", apiError(http.StatusInternalServerError), ""},
		{"a 403 is in no category", apiError(http.StatusForbidden), ""},
		{"a wrapped error keeps its category", fmt.Errorf("creating container %q: %w", "ctr", &podmanapi.NameInUseError{Name: "ctr", Err: cause}), "already exists"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range categories {
				if got := errors.Is(tc.err, c.err); got != (c.name == tc.want) {
					t.Errorf("errors.Is(%v, %s) = %v, want %v", tc.err, c.name, got, !got)
				}
			}
		})
	}
}

func TestErrdefsHelpersSeeTheCategories(t *testing.T) {
	if err := error(&podmanapi.UnreachableError{URI: "unix:///x", Err: errors.New("refused")}); !errdefs.IsUnavailable(err) {
		t.Errorf("errdefs.IsUnavailable(%v) = false", err)
	}
	if err := error(&podmanapi.InterruptedError{Op: "creating", Err: context.DeadlineExceeded}); !errdefs.IsCanceled(err) || !errdefs.IsDeadlineExceeded(err) {
		t.Errorf("errdefs.IsCanceled and IsDeadlineExceeded(%v) are not both true", err)
	}
	if err := error(apiError(http.StatusNotFound)); !errdefs.IsNotFound(err) {
		t.Errorf("errdefs.IsNotFound(%v) = false", err)
	}
}

func TestErrorsKeepTheirCause(t *testing.T) {
	cause := &errorhandling.ErrorModel{Message: "boom", ResponseCode: http.StatusInternalServerError}
	for _, err := range []error{
		&podmanapi.UnreachableError{URI: "unix:///x", Err: cause},
		&podmanapi.ImageNotFoundError{Image: "img", Err: cause},
		&podmanapi.NoSuchContainerError{Name: "ctr", Err: cause},
		&podmanapi.NameInUseError{Name: "ctr", Err: cause},
		&podmanapi.InterruptedError{Op: "creating", Err: cause},
		&podmanapi.APIError{Code: cause.ResponseCode, Err: cause},
	} {
		var model *errorhandling.ErrorModel
		if !errors.As(err, &model) || model != cause {
			t.Errorf("%T does not unwrap to its cause", err)
		}
	}
}

// TestStartErrorReadsAndExitsAsPodman: the runtime's message alone, and
// podman run's exit code for it, from the messages podman 4.3.1 and 5.8.2
// servers answer with runc.
func TestStartErrorReadsAndExitsAsPodman(t *testing.T) {
	tests := []struct {
		name, message string
		code          int
	}{
		{"a command not found exits 127", `preparing container 1 for attach: runc: runc create failed: unable to start container process: exec: "/no/such": stat /no/such: no such file or directory: OCI runtime attempted to invoke a command that was not found`, 127},
		{"a command not executable exits 126", `runc: runc create failed: unable to start container process: exec: "/etc": permission denied: OCI permission denied`, 126},
		{"a missing working dir exits 126", `preparing container 1 for attach: workdir "/does/not/exist" does not exist on container 1`, 126},
		{"a port in use exits 126", `cannot listen on the TCP port: listen tcp4 127.0.0.1:8080: bind: address already in use`, 126},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			model := &errorhandling.ErrorModel{Message: tc.message, ResponseCode: http.StatusConflict}
			err := &podmanapi.StartError{ID: "1", Err: &podmanapi.APIError{Op: "attaching to container 1", Code: http.StatusConflict, Err: model}}
			if err.Error() != tc.message {
				t.Errorf("Error() = %q, want the server's message alone", err.Error())
			}
			if got := err.ExitCode(); got != tc.code {
				t.Errorf("ExitCode() = %d, want %d", got, tc.code)
			}
			if !errors.Is(err, errdefs.ErrConflict) {
				t.Error("the *StartError hides the category of the server's answer")
			}
		})
	}
}

// TestPodmanMessageIsWhatPodmanPrints: podman's remote client prints the
// server's message bare; sandwire's errors carry what was attempted and the
// HTTP status besides, which PodmanMessage leaves out.
func TestPodmanMessageIsWhatPodmanPrints(t *testing.T) {
	model := func(msg string) *errorhandling.ErrorModel {
		return &errorhandling.ErrorModel{Message: msg, ResponseCode: http.StatusInternalServerError}
	}
	refusal := &podmanapi.APIError{Code: http.StatusInternalServerError, Err: model("stat /dev/nonexistent: no such file or directory")}
	taken := model(`creating container storage: the container name "box" is already in use by 0123. You have to remove that container to be able to reuse that name: that name is already in use`)
	dial := errors.New(`Get "http://d/v5.8.2/libpod/_ping": dial unix /nowhere.sock: connect: no such file or directory`)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"a refused create is the server's message alone", fmt.Errorf("creating container %q: %w", "box", refusal),
			"stat /dev/nonexistent: no such file or directory"},
		{"a taken name is the server's message, which names the holder", fmt.Errorf("creating container %q: %w", "box", &podmanapi.NameInUseError{Name: "box", Err: taken}),
			taken.Message},
		{"a taken name without the server's message keeps sandwire's words", &podmanapi.NameInUseError{Name: "box", Err: errors.New("cause")},
			`the container name "box" is already in use: remove that container or choose another name`},
		{"a refused pull is the server's account of it", &podmanapi.PullError{Image: "Bad::Ref", Err: errors.New("invalid reference format")},
			"invalid reference format"},
		{"a failed start is the runtime's message", &podmanapi.StartError{ID: "1", Err: &podmanapi.APIError{Op: "starting container 1", Code: http.StatusConflict, Err: model("workdir does not exist")}},
			"workdir does not exist"},
		{"an unreachable service is the bindings' account and the address", &podmanapi.UnreachableError{URI: "unix:///nowhere.sock", Err: bindings.ConnectError{Err: dial}},
			"unable to connect to Podman socket: " + dial.Error() + ": unix:///nowhere.sock"},
		{"a connection that cannot be resolved is the cause", &podmanapi.UnreachableError{Connection: "dead", Err: errors.New(`connection "dead" not found`)},
			`connection "dead" not found`},
		{"the sandbox's own error is as it is", fmt.Errorf("preparing the shield: %w", errors.New("terok-shield not found")),
			"preparing the shield: terok-shield not found"},
		{"each error of a join gets a line", errors.Join(fmt.Errorf("creating container: %w", refusal), errors.New("revoking the tokens: the store is locked")),
			"stat /dev/nonexistent: no such file or directory\nrevoking the tokens: the store is locked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := podmanapi.PodmanMessage(tc.err); got != tc.want {
				t.Errorf("PodmanMessage = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUnreachableAtConnectOnlyForAFailedConnection(t *testing.T) {
	connect := bindings.ConnectError{Err: errors.New("dial unix /nowhere.sock: no such file or directory")}
	tests := []struct {
		name string
		err  *podmanapi.UnreachableError
		want bool
	}{
		{"the service did not answer the connection's ping", &podmanapi.UnreachableError{URI: "unix:///nowhere.sock", Err: connect}, true},
		{"the service went away during a request", &podmanapi.UnreachableError{URI: "unix:///nowhere.sock", Err: errors.New("EOF")}, false},
		{"the named connection could not be resolved", &podmanapi.UnreachableError{Connection: "dead", Err: connect}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.AtConnect(); got != tc.want {
				t.Errorf("AtConnect() = %v, want %v", got, tc.want)
			}
		})
	}
}
