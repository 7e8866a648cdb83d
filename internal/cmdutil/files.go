package cmdutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/keybridge/keybridge/internal/safefile"
)

// File is one file to write.
type File struct {
	Path string
	Data []byte
	Mode os.FileMode // 0600 for private keys, 0644 for certificates
}

// ErrExists is returned by WriteFiles when a file exists and force is false.
var ErrExists = errors.New("file exists")

// WriteFiles writes every file or none: each goes to a temporary file in its own
// directory, with its mode from the start, and all are renamed into place only when all
// were written. Without force, an existing file stops everything before anything is
// written.
func WriteFiles(files []File, force bool) (err error) {
	if !force {
		for _, f := range files {
			if _, err := os.Lstat(f.Path); err == nil {
				return Hint(fmt.Errorf("%s: %w", f.Path, ErrExists), "add --force to replace it, or choose another --out-dir")
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	// The temporary files are written and synced concurrently: the syncs, not the
	// writes, are what a conversion waits for.
	temps := make([]string, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() { temps[i], errs[i] = safefile.Temp(f.Path, f.Data, f.Mode, -1, -1) })
	}
	wg.Wait()
	defer func() {
		if err != nil {
			for _, t := range temps {
				if t != "" {
					os.Remove(t)
				}
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, f := range files {
		if err := os.Rename(temps[i], f.Path); err != nil {
			return fmt.Errorf("writing %s: %w", f.Path, err)
		}
	}
	for _, dir := range dirs(files) {
		safefile.SyncDir(dir)
	}
	return nil
}

func dirs(files []File) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		d := filepath.Dir(f.Path)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// ErrNotDir is returned by PrepareDir for a path that exists and is not a directory.
var ErrNotDir = errors.New("not a directory")

// PrepareDir checks that dir can take output files: an existing directory is used as
// it is; a missing one (and its missing parents) is created with mode 0700. remove
// undoes what was created, for a caller whose writing then failed; it removes only
// directories that are still empty.
func PrepareDir(dir string) (remove func(), err error) {
	st, err := os.Stat(dir)
	switch {
	case err == nil && st.IsDir():
		return func() {}, nil
	case err == nil:
		return nil, fmt.Errorf("%s: %w", dir, ErrNotDir)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		created = append(created, d)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	return func() {
		for _, d := range created {
			os.Remove(d)
		}
	}, nil
}
