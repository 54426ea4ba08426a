package podmanapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.podman.io/common/pkg/config"

	"github.com/sandwire/sandwire/podmanapi"
)

// usePodmanConfig points podman's configuration at files in a temp dir:
// an empty containers.conf (CONTAINERS_CONF, read once per process and
// cached by config.Default, so every test that resolves must call this
// before the first read) and a connections file (PODMAN_CONNECTIONS_CONF,
// read on every lookup) holding conns with def as the default. It also
// clears the variables Resolve and the bindings read from the process.
func usePodmanConfig(t *testing.T, def string, conns map[string]config.Destination) {
	t.Helper()
	dir := t.TempDir()
	containersConf := filepath.Join(dir, "containers.conf")
	if err := os.WriteFile(containersConf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	file := config.ConnectionsFile{Connection: config.ConnectionConfig{Default: def, Connections: conns}}
	data, err := json.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	connectionsConf := filepath.Join(dir, "podman-connections.json")
	if err := os.WriteFile(connectionsConf, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for key, value := range map[string]string{
		"CONTAINERS_CONF":          containersConf,
		"CONTAINERS_CONF_OVERRIDE": "",
		"PODMAN_CONNECTIONS_CONF":  connectionsConf,
		"XDG_CONFIG_HOME":          dir,
		"CONTAINER_CONNECTION":     "",
		"CONTAINER_HOST":           "",
		"CONTAINER_SSHKEY":         "",
	} {
		t.Setenv(key, value)
	}
}

// connections are the named connections the Resolve tests choose from.
var connections = map[string]config.Destination{
	"flagged": {URI: "ssh://core@flagged.example:22/run/podman/podman.sock", Identity: "/keys/flagged"},
	"env":     {URI: "unix:///run/env/podman.sock", Identity: "/keys/env", TLSCA: "/tls/env-ca.pem"},
	"default": {URI: "tcp://127.0.0.1:8080", Identity: "/keys/default", TLSCert: "/tls/cert.pem", TLSKey: "/tls/key.pem", TLSCA: "/tls/ca.pem"},
	"machine": {URI: "ssh://core@127.0.0.1:2222/run/user/1000/podman/podman.sock", Identity: "/keys/machine", IsMachine: true},
}

func lookupIn(env map[string]string) podmanapi.LookupEnv {
	return func(key string) (string, bool) {
		v, ok := env[key]
		return v, ok
	}
}

func TestResolveFollowsPodmanRemotesOrder(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	runtimeDir := t.TempDir()
	flagged := podmanapi.Destination{Name: "flagged", URI: connections["flagged"].URI, Identity: "/keys/flagged"}
	fromEnv := podmanapi.Destination{Name: "env", URI: connections["env"].URI, Identity: "/keys/env", TLSCA: "/tls/env-ca.pem"}
	fromDefault := podmanapi.Destination{Name: "default", URI: connections["default"].URI, Identity: "/keys/default",
		TLSCert: "/tls/cert.pem", TLSKey: "/tls/key.pem", TLSCA: "/tls/ca.pem"}
	cases := []struct {
		name string
		opts podmanapi.Options
		root bool // else uid 1000
		env  map[string]string
		def  string // the connections file's default connection
		want podmanapi.Destination
	}{
		{
			name: "the connection flag wins over the URL flag and the environment",
			opts: podmanapi.Options{Connection: "flagged", URL: "unix:///run/url.sock"},
			env:  map[string]string{"CONTAINER_CONNECTION": "env", "CONTAINER_HOST": "ssh://host.example"},
			def:  "default",
			want: flagged,
		},
		{
			name: "the connection flag takes its connection's identity over the identity flag",
			opts: podmanapi.Options{Connection: "flagged", Identity: "/keys/given"},
			want: flagged,
		},
		{
			name: "the connection flag ignores a CONTAINER_CONNECTION that does not exist",
			opts: podmanapi.Options{Connection: "flagged"},
			env:  map[string]string{"CONTAINER_CONNECTION": "missing"},
			want: flagged,
		},
		{
			name: "the URL flag wins over CONTAINER_CONNECTION and keeps its identity and TLS files",
			opts: podmanapi.Options{URL: "unix:///run/url.sock"},
			env:  map[string]string{"CONTAINER_CONNECTION": "env", "CONTAINER_HOST": "ssh://host.example"},
			want: podmanapi.Destination{URI: "unix:///run/url.sock", Identity: "/keys/env", TLSCA: "/tls/env-ca.pem"},
		},
		{
			name: "the URL flag wins over CONTAINER_HOST and keeps CONTAINER_SSHKEY",
			opts: podmanapi.Options{URL: "ssh://core@url.example/run/podman/podman.sock"},
			env:  map[string]string{"CONTAINER_HOST": "ssh://host.example", "CONTAINER_SSHKEY": "/keys/sshkey"},
			want: podmanapi.Destination{URI: "ssh://core@url.example/run/podman/podman.sock", Identity: "/keys/sshkey"},
		},
		{
			name: "the URL flag keeps the default connection's identity and TLS files",
			opts: podmanapi.Options{URL: "tcp://127.0.0.1:9090"},
			def:  "default",
			want: podmanapi.Destination{URI: "tcp://127.0.0.1:9090", Identity: "/keys/default",
				TLSCert: "/tls/cert.pem", TLSKey: "/tls/key.pem", TLSCA: "/tls/ca.pem"},
		},
		{
			name: "the URL flag does not keep the default connection's machine mode",
			opts: podmanapi.Options{URL: "unix:///run/url.sock"},
			def:  "machine",
			want: podmanapi.Destination{URI: "unix:///run/url.sock", Identity: "/keys/machine"},
		},
		{
			name: "the identity flag replaces the identity the URL flag would keep",
			opts: podmanapi.Options{URL: "ssh://core@url.example/run/podman/podman.sock", Identity: "/keys/given"},
			env:  map[string]string{"CONTAINER_CONNECTION": "env"},
			want: podmanapi.Destination{URI: "ssh://core@url.example/run/podman/podman.sock", Identity: "/keys/given", TLSCA: "/tls/env-ca.pem"},
		},
		{
			name: "the URL flag ignores a CONTAINER_CONNECTION that does not exist",
			opts: podmanapi.Options{URL: "unix:///run/url.sock"},
			env:  map[string]string{"CONTAINER_CONNECTION": "missing"},
			want: podmanapi.Destination{URI: "unix:///run/url.sock"},
		},
		{
			name: "CONTAINER_CONNECTION wins over CONTAINER_HOST and the default connection",
			env:  map[string]string{"CONTAINER_CONNECTION": "env", "CONTAINER_HOST": "ssh://host.example", "CONTAINER_SSHKEY": "/keys/sshkey"},
			def:  "default",
			want: fromEnv,
		},
		{
			name: "the identity flag replaces CONTAINER_CONNECTION's identity",
			opts: podmanapi.Options{Identity: "/keys/given"},
			env:  map[string]string{"CONTAINER_CONNECTION": "env"},
			want: podmanapi.Destination{Name: "env", URI: connections["env"].URI, Identity: "/keys/given", TLSCA: "/tls/env-ca.pem"},
		},
		{
			name: "CONTAINER_HOST wins over the default connection, with CONTAINER_SSHKEY",
			env:  map[string]string{"CONTAINER_HOST": "ssh://core@host.example/run/podman/podman.sock", "CONTAINER_SSHKEY": "/keys/sshkey"},
			def:  "default",
			want: podmanapi.Destination{URI: "ssh://core@host.example/run/podman/podman.sock", Identity: "/keys/sshkey"},
		},
		{
			name: "the identity flag replaces CONTAINER_SSHKEY",
			opts: podmanapi.Options{Identity: "/keys/given"},
			env:  map[string]string{"CONTAINER_HOST": "ssh://core@host.example/run/podman/podman.sock", "CONTAINER_SSHKEY": "/keys/sshkey"},
			want: podmanapi.Destination{URI: "ssh://core@host.example/run/podman/podman.sock", Identity: "/keys/given"},
		},
		{
			name: "CONTAINER_SSHKEY without CONTAINER_HOST is not used",
			env:  map[string]string{"CONTAINER_SSHKEY": "/keys/sshkey"},
			def:  "default",
			want: fromDefault,
		},
		{
			name: "empty variables count as unset",
			env:  map[string]string{"CONTAINER_CONNECTION": "", "CONTAINER_HOST": ""},
			def:  "default",
			want: fromDefault,
		},
		{
			name: "the default connection comes with its machine mode",
			def:  "machine",
			want: podmanapi.Destination{Name: "machine", URI: connections["machine"].URI, Identity: "/keys/machine", Machine: true},
		},
		{
			name: "without a default connection a rootless user gets the socket under XDG_RUNTIME_DIR",
			opts: podmanapi.Options{Identity: "/keys/given"},
			env:  map[string]string{"XDG_RUNTIME_DIR": runtimeDir},
			want: podmanapi.Destination{URI: "unix://" + filepath.Join(runtimeDir, "podman", "podman.sock"), Identity: "/keys/given"},
		},
		{
			name: "without XDG_RUNTIME_DIR a rootless user gets the socket in the temp dir",
			want: podmanapi.Destination{URI: "unix://" + filepath.Join(tmp, "podman-run-1000", "podman", "podman.sock")},
		},
		{
			name: "without a default connection root gets the rootful socket",
			env:  map[string]string{"XDG_RUNTIME_DIR": runtimeDir},
			root: true,
			want: podmanapi.Destination{URI: podmanapi.DefaultRootSocket},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			usePodmanConfig(t, tc.def, connections)
			euid := 1000
			if tc.root {
				euid = 0
			}
			got, err := podmanapi.Resolve(tc.opts, euid, lookupIn(tc.env))
			if err != nil {
				t.Fatalf("Resolve(%+v) failed: %v", tc.opts, err)
			}
			if got != tc.want {
				t.Errorf("Resolve(%+v)\n got %+v\nwant %+v", tc.opts, got, tc.want)
			}
		})
	}
}

func TestResolveNamesTheConnectionItCannotFind(t *testing.T) {
	cases := []struct {
		name string
		opts podmanapi.Options
		env  map[string]string
		want string
	}{
		{"a connection flag that does not exist", podmanapi.Options{Connection: "missing"}, nil, "missing"},
		{"a CONTAINER_CONNECTION that does not exist", podmanapi.Options{}, map[string]string{"CONTAINER_CONNECTION": "absent"}, "absent"},
		{"a CONTAINER_CONNECTION that does not exist wins over CONTAINER_HOST", podmanapi.Options{},
			map[string]string{"CONTAINER_CONNECTION": "absent", "CONTAINER_HOST": "unix:///run/host.sock"}, "absent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			usePodmanConfig(t, "default", connections)
			got, err := podmanapi.Resolve(tc.opts, 1000, lookupIn(tc.env))
			if err == nil {
				t.Fatalf("Resolve(%+v) = %+v, want an error", tc.opts, got)
			}
			if got.Name != tc.want || got.URI != "" {
				t.Errorf("Resolve(%+v) failed with %+v, want only the name %q", tc.opts, got, tc.want)
			}
		})
	}
}

// deadSocket is the URI of a unix socket in a temp dir that nothing
// listens on any more: connecting to it is refused.
func deadSocket(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dead.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "unix://" + path
}

func TestConnectNamesTheConnectionItCouldNotReach(t *testing.T) {
	dead := deadSocket(t)
	cases := []struct {
		name string
		opts podmanapi.Options
		env  map[string]string
		def  string
		want *podmanapi.UnreachableError
		msg  string // the message up to the cause
	}{
		{
			name: "CONTAINER_CONNECTION's connection is named with its URI",
			env:  map[string]string{"CONTAINER_CONNECTION": "dead"},
			want: &podmanapi.UnreachableError{URI: dead, Connection: "dead"},
			msg:  fmt.Sprintf("cannot connect to the podman service of connection %q (%s): ", "dead", dead),
		},
		{
			name: "the connection flag's connection is named with its URI",
			opts: podmanapi.Options{Connection: "dead"},
			want: &podmanapi.UnreachableError{URI: dead, Connection: "dead"},
			msg:  fmt.Sprintf("cannot connect to the podman service of connection %q (%s): ", "dead", dead),
		},
		{
			name: "the default connection is named with its URI",
			def:  "dead",
			want: &podmanapi.UnreachableError{URI: dead, Connection: "dead"},
			msg:  fmt.Sprintf("cannot connect to the podman service of connection %q (%s): ", "dead", dead),
		},
		{
			name: "a URL names no connection, though CONTAINER_CONNECTION does",
			opts: podmanapi.Options{URL: dead},
			env:  map[string]string{"CONTAINER_CONNECTION": "dead"},
			want: &podmanapi.UnreachableError{URI: dead},
			msg:  fmt.Sprintf("cannot connect to the podman service at %q: ", dead),
		},
		{
			name: "a CONTAINER_CONNECTION that does not exist is named without a URI",
			env:  map[string]string{"CONTAINER_CONNECTION": "missing"},
			want: &podmanapi.UnreachableError{Connection: "missing"},
			msg:  `cannot connect to the podman service of connection "missing": `,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			usePodmanConfig(t, tc.def, map[string]config.Destination{"dead": {URI: dead}})
			for key, value := range tc.env {
				t.Setenv(key, value)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client, err := podmanapi.Connect(ctx, tc.opts)
			if err == nil {
				t.Fatalf("Connect(%+v) reached a server: %+v", tc.opts, client)
			}
			var got *podmanapi.UnreachableError
			if !errors.As(err, &got) {
				t.Fatalf("Connect(%+v) = %T %v, want an *UnreachableError", tc.opts, err, err)
			}
			if got := withoutCause(got); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Connect(%+v) = %+v, want %+v", tc.opts, got, tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.msg) {
				t.Errorf("Connect(%+v) says %q, want it to begin %q", tc.opts, err, tc.msg)
			}
		})
	}
}
