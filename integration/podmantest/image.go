package podmantest

import (
	"archive/tar"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Image is the name of the test image every Service holds: a busybox
// rootfs with /bin/sh and the usual applets, default command /bin/sh.
const Image = "localhost/sandwire-test:latest"

// BusyboxPath is the host binary the test image is made of. It must be
// statically linked (Debian's busybox-static), since the image has no libc.
const BusyboxPath = "/bin/busybox"

// busyboxApplets are linked to /bin/busybox in the test image.
var busyboxApplets = []string{
	"sh", "cat", "ls", "env", "echo", "sleep", "id", "grep", "touch", "mount",
	"test", "true", "false", "sort", "stat",
}

// importImage makes the test image from the host's busybox and imports it
// into the service's storage, before the service starts.
func (s *Service) importImage() error {
	return s.importBusybox(Image)
}

// ImportVariant imports the test image's contents again as name, with a
// label that tells it apart: an image of another ID and digest, for a
// registry's tag to move to.
func (s *Service) ImportVariant(name, label string) error {
	return s.importBusybox(name, "LABEL "+label)
}

// importBusybox imports a busybox rootfs as name, with the test image's
// command and the Dockerfile instructions in changes.
func (s *Service) importBusybox(name string, changes ...string) error {
	tarball := filepath.Join(s.dir, "busybox.tar")
	if err := writeBusyboxTar(tarball); err != nil {
		return fmt.Errorf("making the test image: %w", err)
	}
	args := []string{"import", "--change", `CMD ["/bin/sh"]`}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	if _, err := s.Podman(append(args, tarball, name)...); err != nil {
		return fmt.Errorf("importing the test image: %w", err)
	}
	return os.Remove(tarball)
}

// writeBusyboxTar writes a rootfs tarball: /bin/busybox, its applet
// links, and the directories a container expects.
func writeBusyboxTar(path string) error {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	now := time.Now()
	dirs := map[string]int64{"bin": 0o755, "etc": 0o755, "tmp": 0o1777, "proc": 0o555, "sys": 0o555,
		"dev": 0o755, "run": 0o755, "root": 0o700, "usr": 0o755, "usr/local": 0o755}
	var werr error
	write := func(h *tar.Header, body []byte) {
		if werr == nil {
			h.ModTime = now
			werr = tw.WriteHeader(h)
		}
		if werr == nil && body != nil {
			_, werr = tw.Write(body)
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) { // parents before children
		write(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: dirs[d]}, nil)
	}
	write(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))}, bb)
	for _, a := range busyboxApplets {
		write(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}, nil)
	}
	if werr == nil {
		werr = tw.Close()
	}
	return errors.Join(werr, f.Close())
}
