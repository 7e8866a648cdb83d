// Package safefile writes files so that a reader sees the old content or the new one,
// never a mix and never a half-written file: each file is written to a temporary file
// in its own directory, synced, and renamed over the target.
//
// Write replaces one file in place as an administrator expects of a tool that renews a
// keystore under sudo: the file keeps its owner, group and mode, and a symbolic link
// keeps pointing where it did (the file it names is replaced). Nothing is changed on any
// error.
package safefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrOwner: an existing file's owner or group cannot be given to its replacement (only
// root may give a file away), so it was not replaced.
var ErrOwner = errors.New("cannot keep the file's owner")

// Write replaces path with data atomically. An existing file keeps its owner, group and
// permission bits; a new file gets perm and the caller's owner. When path is a symbolic
// link the file it points to is replaced, not the link. When the replacement cannot get
// the existing owner or group (the caller is not root), nothing is written and the
// error wraps ErrOwner.
func Write(path string, data []byte, perm os.FileMode) error {
	target, err := filepath.EvalSymlinks(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		target = path
		if _, lerr := os.Lstat(path); lerr == nil {
			// A dangling link: create what it names, not a file in its place.
			if dest, rerr := os.Readlink(path); rerr == nil {
				if !filepath.IsAbs(dest) {
					dest = filepath.Join(filepath.Dir(path), dest)
				}
				target = dest
			}
		}
	case err != nil:
		return fmt.Errorf("writing %s: %w", path, err)
	}
	owner := -1
	group := -1
	if st, err := os.Stat(target); err == nil {
		if !st.Mode().IsRegular() {
			return fmt.Errorf("writing %s: not a regular file", path)
		}
		perm = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			owner, group = int(sys.Uid), int(sys.Gid)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp, err := Temp(target, data, perm, owner, group)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	SyncDir(filepath.Dir(target))
	return nil
}

// Temp writes data to a new temporary file beside path (same directory, so a rename
// replaces path atomically), with mode perm from before any byte is written and,
// where owner or group is not -1, that owner or group; the file is synced. The caller
// renames it over path or removes it.
func Temp(path string, data []byte, perm os.FileMode, owner, group int) (string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	name := tmp.Name()
	fail := func(err error) (string, error) {
		tmp.Close()
		os.Remove(name)
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	// CreateTemp makes the file 0600, so a key is never readable by others, even for a
	// moment; the owner and a wider mode are set before any content is written.
	if owner != -1 || group != -1 {
		if err := chownIfNeeded(tmp, owner, group); err != nil {
			return fail(err)
		}
	}
	if err := tmp.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	return name, nil
}

func chownIfNeeded(f *os.File, owner, group int) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || (int(sys.Uid) == owner || owner == -1) && (int(sys.Gid) == group || group == -1) {
		return nil
	}
	if err := f.Chown(owner, group); err != nil {
		return fmt.Errorf("%w (uid %d, gid %d): %v", ErrOwner, owner, group, err)
	}
	return nil
}

// SyncDir makes a rename in dir durable; a failure is not reported (some file systems
// cannot sync a directory, and the rename itself has happened).
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
