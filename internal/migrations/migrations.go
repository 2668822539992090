// Package migrations reads a ledger's versioned schema migrations: SQL
// files named NNNN_what.sql, numbered 1, 2, 3... The SQLite and Postgres
// ledgers each embed their own files, with the same numbering.
package migrations

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Migration is one version of the schema.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load returns the migrations in dir of fsys in order, checking that their
// versions run 1, 2, 3... without gaps, so a misnamed file fails every test
// rather than one database in production.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	ms := make([]Migration, 0, len(names))
	for i, path := range names { // Glob sorts, and versions are zero-padded
		name := strings.TrimPrefix(path, dir+"/")
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d first in its name", name, i+1)
		}
		body, err := fs.ReadFile(fsys, path)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(body)})
	}
	return ms, nil
}
