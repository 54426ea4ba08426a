package podmantest

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// TestBusyboxTarPutsDirsBeforeWhatTheyHold reads back the rootfs tarball:
// every entry's parent dir comes before it, and every applet links to
// busybox.
func TestBusyboxTarPutsDirsBeforeWhatTheyHold(t *testing.T) {
	if err := checkStatic(BusyboxPath); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "busybox.tar")
	if err := writeBusyboxTar(file); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{".": true}
	links := 0
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if parent := path.Dir(name); !seen[parent] {
			t.Errorf("%s comes before its dir %s", h.Name, parent)
		}
		seen[name] = true
		if h.Typeflag == tar.TypeSymlink {
			links++
			if h.Linkname != "busybox" {
				t.Errorf("%s links to %q, want busybox", h.Name, h.Linkname)
			}
		}
	}
	if !seen["bin/busybox"] || !seen["usr/local"] || !seen["tmp"] {
		t.Errorf("the tarball lacks bin/busybox, usr/local or tmp: %v", seen)
	}
	if links != len(busyboxApplets) {
		t.Errorf("%d applet links, want %d", links, len(busyboxApplets))
	}
}
