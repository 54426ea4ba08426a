package podmanapi

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Process is one process of a fake /proc: what its exe link points at
// (none when empty, as for another user's process), its comm, environment
// and command line.
type Process struct {
	Exe, Comm        string
	Environ, Cmdline []string
}

// IdentityUIDMap is /proc/self/uid_map in the initial user namespace.
const IdentityUIDMap = "         0          0 4294967295\n"

// FakeProc writes a /proc in a temp dir: self/uid_map, and procs by pid.
func FakeProc(t testing.TB, uidMap string, procs map[int]Process) string {
	t.Helper()
	dir := t.TempDir()
	write := func(rel, data string) {
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("self/uid_map", uidMap)
	for pid, p := range procs {
		d := strconv.Itoa(pid)
		write(d+"/comm", p.Comm+"\n")
		write(d+"/environ", strings.Join(p.Environ, "\x00")+"\x00")
		write(d+"/cmdline", strings.Join(p.Cmdline, "\x00")+"\x00")
		if p.Exe != "" {
			if err := os.Symlink(p.Exe, filepath.Join(dir, d, "exe")); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// UseProc makes c look the server's process up in dir instead of /proc.
func UseProc(c *Client, dir string) { c.proc = procDir(dir) }
