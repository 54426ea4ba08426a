package wiring_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sync"
	"testing"

	"github.com/sandwire/sandwire/wiring"
)

var (
	gateTokenRE    = regexp.MustCompile(`^terok-g-[0-9a-f]{32}$`)
	phantomTokenRE = regexp.MustCompile(`^terok-p-[0-9a-f]{32}$`)
)

func TestTokenFormats(t *testing.T) {
	cases := []struct {
		name string
		mint func() (string, error)
		re   *regexp.Regexp
	}{
		{"gate tokens are terok-g- and 32 hex digits", wiring.MintGateToken, gateTokenRE},
		{"phantom tokens are terok-p- and 32 hex digits", wiring.NewPhantomToken, phantomTokenRE},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			for range 200 {
				tok, err := tc.mint()
				if err != nil {
					t.Fatalf("minting: %v", err)
				}
				if !tc.re.MatchString(tok) {
					t.Fatalf("token %q does not match %s", tok, tc.re)
				}
				if seen[tok] {
					t.Fatalf("token %q was minted twice", tok)
				}
				seen[tok] = true
			}
		})
	}
}

func TestRedact(t *testing.T) {
	gate, err := wiring.MintGateToken()
	if err != nil {
		t.Fatal(err)
	}
	phantom, err := wiring.NewPhantomToken()
	if err != nil {
		t.Fatal(err)
	}
	const gateMark, phantomMark = "terok-g-<redacted>", "terok-p-<redacted>"
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"gate token is redacted", "token " + gate, "token " + gateMark},
		{"phantom token is redacted", phantom, phantomMark},
		{"both kinds in one line are redacted", fmt.Sprintf("-e TEROK_GATE_TOKEN=%s -e TEROK_SSH_SIGNER_TOKEN=%s", gate, phantom),
			fmt.Sprintf("-e TEROK_GATE_TOKEN=%s -e TEROK_SSH_SIGNER_TOKEN=%s", gateMark, phantomMark)},
		{"repeated token is redacted every time", gate + "," + gate, gateMark + "," + gateMark},
		{"token inside JSON is redacted", `{"gate_token":"` + gate + `"}`, `{"gate_token":"` + gateMark + `"}`},
		{"line without a token is unchanged", "nothing to see: terok-g-short", "nothing to see: terok-g-short"},
		{"empty line is unchanged", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := wiring.Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// tokenStore is what the tests use of both token stores.
type tokenStore interface {
	wiring.TokenStore
	Path() string
	Lookup(ctx context.Context, token string) (wiring.TokenRecord, bool, error)
	CountSubject(ctx context.Context, subject string) (int, error)
	Close() error
}

// storeKinds are the two token stores: every test of a store's behaviour
// runs on both.
var storeKinds = []struct {
	name string
	open func(path string) tokenStore
}{
	{"plaintext store", func(path string) tokenStore { return wiring.NewSQLiteStore(path) }},
	{"vault", func(path string) tokenStore { return wiring.NewVaultStore(path, givenChain(testPassphrase)) }},
}

// forEachStore runs test once for each kind of store.
func forEachStore(t *testing.T, test func(t *testing.T, open func(path string) tokenStore)) {
	for _, kind := range storeKinds {
		t.Run(kind.name, func(t *testing.T) { test(t, kind.open) })
	}
}

func TestTokenStoresCreateTheirFileLazily(t *testing.T) {
	forEachStore(t, testCreatesItsFileLazily)
}

func testCreatesItsFileLazily(t *testing.T, open func(string) tokenStore) {
	path := filepath.Join(t.TempDir(), "vault", "credentials.db")
	s := open(path)
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("making the store created %s (lstat: %v)", path, err)
	}
	if _, err := os.Lstat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("making the store created %s (lstat: %v)", filepath.Dir(path), err)
	}
	for _, read := range []func() error{
		func() error { _, err := s.CountSubject(context.Background(), "web"); return err },
		func() error { _, err := s.RevokeSubject(context.Background(), "proj", "web"); return err },
		func() error { return s.Revoke(context.Background(), "terok-p-00000000000000000000000000000000") },
	} {
		if err := read(); err != nil {
			t.Fatalf("reading or revoking before the first mint = %v", err)
		}
	}
	if _, err := os.Lstat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("reading or revoking created %s (lstat: %v)", filepath.Dir(path), err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close of an unopened store = %v", err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("Close created %s (lstat: %v)", path, err)
	}

	if _, err := s.Mint(context.Background(), "proj", "web", "proj", wiring.SSHProvider); err != nil {
		t.Fatalf("Mint = %v", err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the first Mint did not create the database: %v", err)
	}
	if st.Mode() != 0o600 {
		t.Errorf("database mode = %v, want -rw-------", st.Mode())
	}
}

func TestTokenStores(t *testing.T) { forEachStore(t, testTokenStore) }

func testTokenStore(t *testing.T, open func(string) tokenStore) {
	ctx := context.Background()
	s := open(filepath.Join(t.TempDir(), "credentials.db"))
	defer s.Close()

	mint := func(scope, subject, set, provider string) string {
		t.Helper()
		tok, err := s.Mint(ctx, scope, subject, set, provider)
		if err != nil {
			t.Fatalf("Mint(%s, %s) = %v", scope, subject, err)
		}
		if !phantomTokenRE.MatchString(tok) {
			t.Fatalf("Mint returned %q, want a terok-p- token", tok)
		}
		return tok
	}
	count := func(subject string) int {
		t.Helper()
		n, err := s.CountSubject(ctx, subject)
		if err != nil {
			t.Fatalf("CountSubject(%s) = %v", subject, err)
		}
		return n
	}
	lookup := func(tok string) (wiring.TokenRecord, bool) {
		t.Helper()
		rec, ok, err := s.Lookup(ctx, tok)
		if err != nil {
			t.Fatalf("Lookup = %v", err)
		}
		return rec, ok
	}

	webSSH := mint("proj", "web", "proj", wiring.SSHProvider)
	webAPI := mint("proj", "web", "creds", "anthropic")
	webOther := mint("other", "web", "other", wiring.SSHProvider)
	dbSSH := mint("proj", "db", "proj", wiring.SSHProvider)

	t.Run("lookup returns what a token is bound to", func(t *testing.T) {
		rec, ok := lookup(webAPI)
		want := wiring.TokenRecord{Scope: "proj", Subject: "web", CredentialSet: "creds", Provider: "anthropic"}
		if !ok || rec != want {
			t.Errorf("Lookup = %+v, %v; want %+v, true", rec, ok, want)
		}
	})
	t.Run("lookup of an unknown token is not found", func(t *testing.T) {
		if rec, ok := lookup("terok-p-00000000000000000000000000000000"); ok {
			t.Errorf("Lookup of an unknown token = %+v, true", rec)
		}
	})
	t.Run("count covers every scope of a subject", func(t *testing.T) {
		if got := count("web"); got != 3 {
			t.Errorf("CountSubject(web) = %d, want 3", got)
		}
		if got := count("nobody"); got != 0 {
			t.Errorf("CountSubject(nobody) = %d, want 0", got)
		}
	})
	t.Run("revoke removes exactly the given tokens", func(t *testing.T) {
		if err := s.Revoke(ctx, webAPI, "terok-p-ffffffffffffffffffffffffffffffff"); err != nil {
			t.Fatalf("Revoke = %v", err)
		}
		if _, ok := lookup(webAPI); ok {
			t.Error("a revoked token is still found")
		}
		for _, tok := range []string{webSSH, webOther, dbSSH} {
			if _, ok := lookup(tok); !ok {
				t.Errorf("Revoke removed the unrelated token %s", tok)
			}
		}
	})
	t.Run("revoke of nothing is a no-op", func(t *testing.T) {
		if err := s.Revoke(ctx); err != nil {
			t.Fatalf("Revoke() = %v", err)
		}
		if got := count("web"); got != 2 {
			t.Errorf("CountSubject(web) = %d after an empty Revoke, want 2", got)
		}
	})
	t.Run("revoke subject removes only that scope's tokens of the subject", func(t *testing.T) {
		n, err := s.RevokeSubject(ctx, "proj", "web")
		if err != nil {
			t.Fatalf("RevokeSubject = %v", err)
		}
		if n != 1 {
			t.Errorf("RevokeSubject(proj, web) = %d, want 1", n)
		}
		if _, ok := lookup(webSSH); ok {
			t.Error("RevokeSubject left the subject's token in the scope")
		}
		if _, ok := lookup(webOther); !ok {
			t.Error("RevokeSubject removed the subject's token in another scope")
		}
		if _, ok := lookup(dbSSH); !ok {
			t.Error("RevokeSubject removed another subject's token")
		}
	})
	t.Run("revoke subject of nothing returns zero", func(t *testing.T) {
		n, err := s.RevokeSubject(ctx, "proj", "web")
		if err != nil || n != 0 {
			t.Errorf("RevokeSubject again = %d, %v; want 0, nil", n, err)
		}
	})
	t.Run("tokens survive reopening the file", func(t *testing.T) {
		again := open(s.Path())
		defer again.Close()
		rec, ok, err := again.Lookup(ctx, dbSSH)
		want := wiring.TokenRecord{Scope: "proj", Subject: "db", CredentialSet: "proj", Provider: wiring.SSHProvider}
		if err != nil || !ok || rec != want {
			t.Errorf("Lookup through a second store = %+v, %v, %v; want %+v", rec, ok, err, want)
		}
	})
}

func TestTokenStoresConcurrentMint(t *testing.T) { forEachStore(t, testConcurrentMint) }

func testConcurrentMint(t *testing.T, open func(string) tokenStore) {
	ctx := context.Background()
	s := open(filepath.Join(t.TempDir(), "credentials.db"))
	defer s.Close()

	const n = 20
	tokens := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tokens[i], errs[i] = s.Mint(ctx, "proj", "web", "proj", wiring.SSHProvider)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Mint #%d = %v", i, err)
		}
	}
	uniq := map[string]bool{}
	for _, tok := range tokens {
		uniq[tok] = true
	}
	if len(uniq) != n {
		t.Errorf("%d concurrent mints gave %d distinct tokens", n, len(uniq))
	}
	got, err := s.CountSubject(ctx, "web")
	if err != nil || got != n {
		t.Errorf("CountSubject = %d, %v; want %d", got, err, n)
	}
}

func TestTokenStoresConcurrentStoresOnOneFile(t *testing.T) {
	forEachStore(t, testConcurrentStoresOnOneFile)
}

func testConcurrentStoresOnOneFile(t *testing.T, open func(string) tokenStore) {
	// Two stores on one file stand in for two processes.
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "credentials.db")
	stores := []tokenStore{open(path), open(path)}
	for _, s := range stores {
		defer s.Close()
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var minted []string
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := stores[i%2].Mint(ctx, "proj", fmt.Sprintf("c%d", i%4), "proj", wiring.SSHProvider)
			if err != nil {
				t.Errorf("Mint = %v", err)
				return
			}
			mu.Lock()
			minted = append(minted, tok)
			mu.Unlock()
		}()
	}
	wg.Wait()
	total := 0
	for i := range 4 {
		n, err := stores[0].CountSubject(ctx, fmt.Sprintf("c%d", i))
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != len(minted) || total != 20 {
		t.Errorf("stored %d tokens, minted %d, want 20", total, len(minted))
	}
}

func TestTokenStoresOpenErrors(t *testing.T) { forEachStore(t, testOpenErrors) }

func testOpenErrors(t *testing.T, open func(string) tokenStore) {
	ctx := context.Background()
	// A regular file where the store's directory should be.
	blocker := filepath.Join(t.TempDir(), "file")
	writeFile(t, blocker, "x")
	s := open(filepath.Join(blocker, "credentials.db"))
	defer s.Close()

	checks := []struct {
		name string
		call func() error
	}{
		{"mint fails when the store cannot be opened", func() error { _, err := s.Mint(ctx, "p", "s", "p", "ssh"); return err }},
		{"revoke fails when the store cannot be opened", func() error { return s.Revoke(ctx, "t") }},
		{"revoke subject fails when the store cannot be opened", func() error { _, err := s.RevokeSubject(ctx, "p", "s"); return err }},
		{"lookup fails when the store cannot be opened", func() error { _, _, err := s.Lookup(ctx, "t"); return err }},
		{"count fails when the store cannot be opened", func() error { _, err := s.CountSubject(ctx, "s"); return err }},
	}
	for _, tc := range checks {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err == nil {
				t.Error("got nil, want an error")
			}
		})
	}
	if got := tree(t, filepath.Dir(blocker)); !reflect.DeepEqual(got, []string{"file"}) {
		t.Errorf("failed opens left %q behind", got)
	}
}

func TestTokenStoreSideFilesAreOwnerOnly(t *testing.T) { forEachStore(t, testSideFilesOwnerOnly) }

func testSideFilesOwnerOnly(t *testing.T, open func(string) tokenStore) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	store := open(filepath.Join(dir, "credentials.db"))
	defer store.Close()
	if _, err := store.Mint(context.Background(), "proj", "box", "proj", wiring.SSHProvider); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, suffix := range []string{"", "-wal", "-shm"} {
		st, err := os.Stat(store.Path() + suffix)
		if err != nil {
			continue
		}
		seen++
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600: it holds tokens", filepath.Base(store.Path()+suffix), st.Mode().Perm())
		}
	}
	if seen < 2 {
		t.Fatalf("found %d of the database and its WAL files; the test checks nothing", seen)
	}
}
