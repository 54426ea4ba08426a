package podmantest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// RegistryBinary is the registry the tests pull from: Debian's
// docker-registry package (the CNCF distribution registry).
const RegistryBinary = "docker-registry"

// registryConf is the registry's config.yml: its storage in the temporary
// dir, plain HTTP on a loopback address; registryAuthConf follows it for a
// registry that asks for credentials.
const registryConf = `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
http:
  addr: %q
`

const registryAuthConf = `auth:
  htpasswd:
    realm: sandwire-test
    path: %q
`

// RegistryAuth are the credentials a registry asks for: basic
// authentication against an htpasswd file of one user.
type RegistryAuth struct {
	Username, Password string
}

// Registry is a private container registry on a loopback address, serving
// plain HTTP, with its storage in a temporary directory: a podman server
// pulls from it with --tls-verify=false, as a user of such a registry
// would. It is reachable by any user of the machine, the rootless round's
// included.
type Registry struct {
	dir  string
	addr string
	log  string
	auth *RegistryAuth
	daemon
}

// StartRegistry starts a registry for tb and stops it when tb's test ends;
// a registry that does not come up fails tb.
func StartRegistry(tb testing.TB, auth *RegistryAuth) *Registry {
	tb.Helper()
	return startFor(tb, "the registry", func() (*Registry, error) { return NewRegistry(auth) })
}

// NewRegistry starts a registry on a free port of 127.0.0.1 and returns
// once it answers. With auth, it serves only clients that authenticate as
// that user. On error nothing is left running or on disk.
func NewRegistry(auth *RegistryAuth) (_ *Registry, err error) {
	bin, err := exec.LookPath(RegistryBinary)
	if err != nil {
		return nil, fmt.Errorf("the pull tests need a registry (package docker-registry; hack/install-deps.sh installs it): %w", err)
	}
	dir, err := os.MkdirTemp("", "sandwire-registry-")
	if err != nil {
		return nil, err
	}
	r := &Registry{dir: dir, log: filepath.Join(dir, "registry.log"), auth: auth}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.Stop())
		}
	}()
	if r.addr, err = freeLoopbackAddr(); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(conf, r.config(auth), 0o644); err != nil {
		return nil, err
	}
	if auth != nil {
		if err := writeHtpasswd(filepath.Join(dir, "htpasswd"), *auth); err != nil {
			return nil, err
		}
	}
	if err := r.start("the registry", r.log, registryEnv(), bin, "serve", conf); err != nil {
		return nil, err
	}
	// The API root answers 401 to a client without credentials.
	client := &http.Client{Timeout: 2 * time.Second, Transport: basicAuth{auth}}
	return r, r.waitReady(ReadyTimeout, client, "http://"+r.addr+"/v2/", r.LogTail)
}

// config is the registry's config.yml.
func (r *Registry) config(auth *RegistryAuth) []byte {
	conf := fmt.Appendf(nil, registryConf, filepath.Join(r.dir, "data"), r.addr)
	if auth != nil {
		conf = fmt.Appendf(conf, registryAuthConf, filepath.Join(r.dir, "htpasswd"))
	}
	return conf
}

// writeHtpasswd writes an htpasswd file of one user, in bcrypt, the one
// hash the registry takes.
func writeHtpasswd(path string, auth RegistryAuth) error {
	hash, err := bcrypt.GenerateFromPassword([]byte(auth.Password), bcrypt.MinCost)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(auth.Username+":"+string(hash)+"\n"), 0o600)
}

// basicAuth sends the credentials, when there are any, with each request.
type basicAuth struct{ auth *RegistryAuth }

func (b basicAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	if b.auth != nil {
		req = req.Clone(req.Context())
		req.SetBasicAuth(b.auth.Username, b.auth.Password)
	}
	return http.DefaultTransport.RoundTrip(req)
}

// freeLoopbackAddr is a TCP address on 127.0.0.1 that nothing listens on.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// registryEnv is the process environment without REGISTRY_* variables,
// which would override the registry's config.yml.
func registryEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "REGISTRY_") })
}

// Addr is the registry's host:port, as an image reference names it.
func (r *Registry) Addr() string { return r.addr }

// Ref is the reference of repo (with its tag) in this registry.
func (r *Registry) Ref(repo string) string { return r.addr + "/" + repo }

// Push pushes image from svc's storage to this registry as ref, over plain
// HTTP, with the podman CLI, as the registry's user when it has one.
func (r *Registry) Push(svc *Service, image, ref string) error {
	args := []string{"push", "--tls-verify=false", "--quiet"}
	if r.auth != nil {
		args = append(args, "--creds", r.auth.Username+":"+r.auth.Password)
	}
	_, err := svc.Podman(append(args, image, "docker://"+ref)...)
	return err
}

// LogTail is the registry's log.
func (r *Registry) LogTail() string {
	data, err := os.ReadFile(r.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return strings.TrimSpace(string(data))
}

// Stop stops the registry and removes its storage. It is safe to call
// more than once; a registry stopped this way refuses connections, as one
// that is down does.
func (r *Registry) Stop() error {
	return r.stopped(func() error { return errors.Join(r.terminate(), os.RemoveAll(r.dir)) })
}
