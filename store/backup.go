package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// BackupInfo describes a store file CheckFile accepted.
type BackupInfo struct {
	// SchemaVersion is the file's schema version (PRAGMA user_version),
	// from 1 to this binary's; an older one is migrated when opened.
	SchemaVersion int
	// Jobs is the number of jobs it holds.
	Jobs int
}

// CheckFile checks, without writing to it, that the file at path is a
// salvo store this binary can open: an SQLite database that passes
// quick_check, with a schema version this binary reads and the jobs
// table (a backup from GET /api/v1/backup, or a node's salvo.db).
func CheckFile(ctx context.Context, path string) (BackupInfo, error) {
	var info BackupInfo
	fi, err := os.Stat(path)
	if err != nil {
		return info, fmt.Errorf("check store file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return info, fmt.Errorf("check store file %s: not a regular file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return info, fmt.Errorf("check store file %s: %w", path, err)
	}
	// Read-only and immutable: neither a journal nor a WAL is made next to it.
	uri := (&url.URL{Scheme: "file", OmitHost: true, Path: abs, RawQuery: "mode=ro&immutable=1"}).String()
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return info, fmt.Errorf("check store file %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	notStore := func(why string, err error) (BackupInfo, error) {
		if err != nil {
			why += ": " + err.Error()
		}
		return info, fmt.Errorf("%s is not a salvo store: %s", path, why)
	}
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check); err != nil {
		return notStore("not an SQLite database", err)
	}
	if check != "ok" {
		return notStore("the database is damaged ("+check+")", nil)
	}
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&info.SchemaVersion); err != nil {
		return notStore("no schema version", err)
	}
	switch v := info.SchemaVersion; {
	case v == 0:
		return notStore("no schema version (an SQLite file of another program?)", nil)
	case v > schemaVersion:
		return info, fmt.Errorf("%s: schema version %d is newer than this binary's %d: use the salvo release that made it", path, v, schemaVersion)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM jobs`).Scan(&info.Jobs); err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return notStore("no jobs table", nil)
		}
		return notStore("cannot read its jobs", err)
	}
	return info, nil
}
