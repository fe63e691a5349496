// Package repo finds the repository the tests and the local cluster work in: they
// read config/ and build into bin/ from its root.
package repo

import (
	"fmt"
	"os"
	"path/filepath"
)

// Root returns the folder with go.mod above the working directory (go test runs
// each package in its own folder).
func Root() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s: run this from inside the repository", wd)
		}
		dir = parent
	}
}
