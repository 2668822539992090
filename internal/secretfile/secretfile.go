// Package secretfile creates the files sluice keeps secrets in: keys,
// tokens and credentials generated on first start.
package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Create writes data to path with mode 0600 (its directory 0700) unless
// path already exists. The data goes to a temporary file that is then linked
// into place, so the file never exists half-written, and when two processes
// create it at once both end up with the winner's: a caller reads path back
// after Create rather than trusting its own data.
func Create(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*") // 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}
