package wiring

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/mattn/go-shellwords"
	"github.com/zalando/go-keyring"
	ss "github.com/zalando/go-keyring/secret_service"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// The tiers of terok-sandbox's passphrase chain, each a small value; the
// names and paths are terok's, so that a passphrase terok stored is found.

// SystemdCreds is the systemd-creds tier: a passphrase sealed to this
// machine (TPM2 or host key) by `terok-sandbox vault passphrase seal`. It
// is decrypted with `systemd-creds decrypt --user
// --name=terok-sandbox.vault-passphrase FILE -`, which needs systemd 257 or
// later for a user other than root. When File exists but cannot be
// decrypted the tier fails closed: falling through would demote a
// machine-bound tier without the operator knowing.
type SystemdCreds struct {
	// File is the sealed credential (Config.VaultSystemdCredsFile).
	File string
	// Command is the systemd-creds program; empty means "systemd-creds"
	// on PATH.
	Command string
}

// SystemdCredsName is the name the credential is sealed under.
const SystemdCredsName = "terok-sandbox.vault-passphrase"

func (SystemdCreds) Tier() string { return "systemd-creds" }

func (s SystemdCreds) Lookup(ctx context.Context, _ string) (Passphrase, bool, error) {
	if st, err := os.Stat(s.File); s.File == "" || err != nil || !st.Mode().IsRegular() {
		return Passphrase{}, false, nil
	}
	cmd := s.Command
	if cmd == "" {
		cmd = "systemd-creds"
	}
	out, err := runHelper(ctx, 10*time.Second, cmd, "decrypt", "--user", "--name="+SystemdCredsName, s.File, "-")
	if err == nil && out == "" {
		err = errors.New("it decrypted to nothing")
	}
	if err != nil {
		return Passphrase{}, false, fmt.Errorf("a sealed credential is at %s but could not be decrypted: %w", s.File, err)
	}
	return NewPassphrase(out), true, nil
}

// OSKeyring is the OS keyring tier: the Secret Service item of service
// "terok-sandbox", user "credentials-db" on the session bus. Like terok's,
// it never blocks: without a session bus it is skipped, a locked
// collection is skipped rather than unlocked (no dialog is waited on), and
// a read is bounded; any failure falls through to the next tier.
type OSKeyring struct {
	// Service and User name the item; empty means terok's.
	Service, User string
	// Timeout bounds a read; zero means 3 seconds.
	Timeout time.Duration
}

// terok-sandbox's keyring item.
const (
	KeyringService = "terok-sandbox"
	KeyringUser    = "credentials-db"
)

func (OSKeyring) Tier() string { return "keyring" }

func (k OSKeyring) Lookup(ctx context.Context, _ string) (Passphrase, bool, error) {
	if !sessionBusAvailable() {
		return Passphrase{}, false, nil
	}
	service, user, timeout := k.Service, k.User, k.Timeout
	if service == "" {
		service, user = KeyringService, KeyringUser
	}
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	got := make(chan string, 1)
	// A wedged D-Bus call cannot be cancelled: it is left to finish alone.
	go func() { got <- readKeyring(service, user) }()
	select {
	case s := <-got:
		return NewPassphrase(s), s != "", nil
	case <-time.After(timeout):
	case <-ctx.Done():
	}
	return Passphrase{}, false, nil
}

// readKeyring returns the item's secret, or "" when the collection is
// locked or the item cannot be read.
func readKeyring(service, user string) string {
	svc, err := ss.NewSecretService()
	if err != nil {
		return ""
	}
	prop, err := svc.GetLoginCollection().GetProperty("org.freedesktop.Secret.Collection.Locked")
	if locked, ok := prop.Value().(bool); err != nil || !ok || locked {
		return ""
	}
	s, err := keyring.Get(service, user)
	if err != nil {
		return ""
	}
	return s
}

// sessionBusAvailable says whether a session bus is named or at its usual
// place; without one the D-Bus client would try to launch a bus itself.
func sessionBusAvailable() bool {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return true
	}
	rt := os.Getenv("XDG_RUNTIME_DIR")
	st, err := os.Stat(filepath.Join(rt, "bus"))
	return rt != "" && err == nil && st.Mode().Type() == fs.ModeSocket
}

// SessionCache is terok's volatile unlock cache (`vault unlock`): the
// kernel keyring, or, where the kernel keyring is unusable, a session file
// on the login session's tmpfs. It lives for the session; a reboot clears
// it. A miss falls through to the next tier.
type SessionCache struct {
	Kernel KernelKeyring
	File   SessionFile
}

func (SessionCache) Tier() string { return "kernel-keyring" }

func (c SessionCache) Lookup(ctx context.Context, dbPath string) (Passphrase, bool, error) {
	if c.Kernel.Usable() == nil {
		return c.Kernel.Lookup(ctx, dbPath)
	}
	return c.File.Lookup(ctx, dbPath)
}

// KernelKeyring is the session cache's kernel keyring backing: a "user"
// key in the user keyring (@u) whose description is
// "terok-sandbox:vault-passphrase:" and a digest of the host name and the
// vault's absolute path, so one vault's cache never unlocks another.
type KernelKeyring struct {
	// Ring is the keyring searched; zero means the user keyring (@u).
	Ring int
}

// KernelKeyPrefix starts the description of the kernel keyring's key.
const KernelKeyPrefix = "terok-sandbox:vault-passphrase:"

func (KernelKeyring) Tier() string { return "kernel-keyring" }

func (k KernelKeyring) ring() int {
	if k.Ring == 0 {
		return unix.KEY_SPEC_USER_KEYRING
	}
	return k.Ring
}

// Usable reports why this process cannot use the keyring, or nil.
func (k KernelKeyring) Usable() error {
	if _, err := unix.KeyctlGetKeyringID(k.ring(), false); err != nil {
		return fmt.Errorf("the kernel keyring is unusable here: %w", err)
	}
	return nil
}

func (k KernelKeyring) Lookup(_ context.Context, dbPath string) (Passphrase, bool, error) {
	id, err := unix.KeyctlSearch(k.ring(), "user", KernelKeyDescription(dbPath), 0)
	if err != nil {
		return Passphrase{}, false, nil
	}
	n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, nil, 0)
	if err != nil || n <= 0 {
		return Passphrase{}, false, nil
	}
	buf := make([]byte, n)
	defer clear(buf)
	if n, err = unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0); err != nil || n <= 0 || n > len(buf) {
		return Passphrase{}, false, nil
	}
	return NewPassphrase(string(buf[:n])), true, nil
}

// KernelKeyDescription is the kernel keyring key's description for the
// vault at dbPath.
func KernelKeyDescription(dbPath string) string { return KernelKeyPrefix + cacheDigest(dbPath) }

// cacheDigest is terok's per-vault cache token: the first 32 hex digits of
// the SHA-256 of the host name, a NUL and the vault's absolute path.
func cacheDigest(dbPath string) string {
	host, _ := os.Hostname()
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		abs = dbPath
	}
	sum := sha256.Sum256([]byte(host + "\x00" + abs))
	return hex.EncodeToString(sum[:])[:32]
}

// SessionFile is the session cache's tmpfs backing, used where the kernel
// keyring is unusable: $XDG_RUNTIME_DIR/terok/vault-session/<digest>,
// holding the passphrase verbatim.
type SessionFile struct {
	// RuntimeDir is the login session's runtime dir ($XDG_RUNTIME_DIR);
	// empty means the tier holds nothing.
	RuntimeDir string
}

func (SessionFile) Tier() string { return "kernel-keyring" }

// Path is the session file of the vault at dbPath, or "" without a
// runtime dir.
func (f SessionFile) Path(dbPath string) string {
	if st, err := os.Stat(f.RuntimeDir); f.RuntimeDir == "" || err != nil || !st.IsDir() {
		return ""
	}
	return filepath.Join(f.RuntimeDir, "terok", "vault-session", cacheDigest(dbPath))
}

func (f SessionFile) Lookup(_ context.Context, dbPath string) (Passphrase, bool, error) {
	p := f.Path(dbPath)
	if p == "" {
		return Passphrase{}, false, nil
	}
	data, err := readFileNoFollow(p)
	defer clear(data)
	if err != nil || len(data) == 0 {
		return Passphrase{}, false, nil
	}
	return NewPassphrase(string(data)), true, nil
}

// readFileNoFollow reads path, refusing a symlink there.
func readFileNoFollow(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// PassphraseCommand is the passphrase_command tier: an operator's command
// that prints the passphrase (`pass show ...`, `cat /path/to/file`, a
// cloud secret manager's CLI), split into words as a shell would, without
// a shell, and run with a 30 second timeout; the trailing line ending of
// its output is removed. Once configured it fails closed: a command that
// fails, times out or prints nothing stops the chain.
type PassphraseCommand struct {
	Command string
	// Timeout is how long the command may run; zero means 30 seconds.
	Timeout time.Duration
}

func (PassphraseCommand) Tier() string { return "passphrase-command" }

func (c PassphraseCommand) Lookup(ctx context.Context, _ string) (Passphrase, bool, error) {
	argv, err := shellwords.Parse(c.Command)
	if err != nil {
		// The command itself may hold secrets (vault paths, ARNs): not shown.
		return Passphrase{}, false, fmt.Errorf("passphrase_command cannot be split into words: %w", err)
	}
	if len(argv) == 0 {
		return Passphrase{}, false, errors.New("passphrase_command is blank")
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	out, err := runHelper(ctx, timeout, argv[0], argv[1:]...)
	if err == nil && out == "" {
		err = fmt.Errorf("%q printed no passphrase", argv[0])
	}
	if err != nil {
		return Passphrase{}, false, err
	}
	return NewPassphrase(out), true, nil
}

// runHelper runs a helper program and returns what it printed, without the
// line ending it appends; inner and leading whitespace is passphrase. The
// helper inherits standard input (a pinentry may ask there); its standard
// error goes into the error when it fails.
func runHelper(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return "", fmt.Errorf("%q timed out after %v", name, timeout)
	}
	if err != nil {
		return "", fmt.Errorf("%q: %w%s", name, err, lastLine(stderr.String()))
	}
	return strings.TrimRight(stdout.String(), "\r\n"), nil
}

// lastLine is the last line a helper wrote to standard error, short and
// with tokens redacted, for an error message.
func lastLine(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" {
		return ""
	}
	if len(last) > 200 {
		last = last[:200] + "..."
	}
	return ": " + Redact(last)
}

// Prompt is the interactive tier: it asks on a terminal, and only on a
// terminal (elsewhere it holds nothing), echoing each character typed as
// "*" as terok's prompt does. An empty answer or an interrupted read
// (Ctrl-C, Ctrl-D) stops the chain.
type Prompt struct {
	// In is the terminal read from; Out is where the question and the
	// masked echo go.
	In  *os.File
	Out io.Writer
}

func (Prompt) Tier() string { return "prompt" }

func (p Prompt) Lookup(context.Context, string) (Passphrase, bool, error) {
	if p.In == nil || !term.IsTerminal(int(p.In.Fd())) {
		return Passphrase{}, false, nil
	}
	out := p.Out
	if out == nil {
		out = io.Discard
	}
	fmt.Fprint(out, "credentials.db passphrase: ")
	b, err := readMasked(p.In, out)
	fmt.Fprintln(out)
	defer clear(b)
	if err != nil {
		return Passphrase{}, false, fmt.Errorf("reading the passphrase: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return Passphrase{}, false, errors.New("empty passphrase")
	}
	return NewPassphrase(s), true, nil
}

// errPromptCancelled is an interrupted passphrase prompt.
var errPromptCancelled = errors.New("passphrase entry cancelled")

// readMasked reads a line from the terminal in in raw mode, writing "*"
// to echo for each character and taking one back for each erase, until
// Enter; Ctrl-C, or Ctrl-D on an empty line, cancels.
func readMasked(in *os.File, echo io.Writer) ([]byte, error) {
	fd := int(in.Fd())
	state, err := term.MakeRaw(fd)
	if err != nil {
		return nil, err
	}
	defer term.Restore(fd, state)
	line := make([]byte, 0, 256) // room enough that append does not leave copies behind
	buf := make([]byte, 1)
	defer clear(buf)
	for {
		if _, err := in.Read(buf); err != nil {
			clear(line)
			return nil, err
		}
		switch c := buf[0]; {
		case c == '\r' || c == '\n':
			return line, nil
		case c == 3: // Ctrl-C
			clear(line)
			return nil, errPromptCancelled
		case c == 4 && len(line) == 0: // Ctrl-D
			return nil, errPromptCancelled
		case c == 127 || c == 8: // erase
			if len(line) > 0 {
				// Drop the whole last character, not just its last byte.
				_, size := utf8.DecodeLastRune(line)
				clear(line[len(line)-size:])
				line = line[:len(line)-size]
				io.WriteString(echo, "\b \b")
			}
		case c == 21: // Ctrl-U: erase the line
			io.WriteString(echo, strings.Repeat("\b \b", utf8.RuneCount(line)))
			clear(line)
			line = line[:0]
		case c < 0x20:
			// Other control characters are not part of a passphrase.
		default:
			line = append(line, c)
			if utf8.RuneStart(c) {
				io.WriteString(echo, "*")
			}
		}
	}
}

// GivenPassphrase is a tier that holds a passphrase the caller already
// has: a program that keeps it elsewhere, or a test.
type GivenPassphrase struct{ Passphrase Passphrase }

func (GivenPassphrase) Tier() string { return "given" }

func (g GivenPassphrase) Lookup(context.Context, string) (Passphrase, bool, error) {
	return g.Passphrase, !g.Passphrase.IsZero(), nil
}
