package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/store"
)

// BackupContentType is the media type of GET /api/v1/backup's answer.
const BackupContentType = "application/vnd.sqlite3"

// Snapshotter writes a consistent copy of a store to a new file
// (store.SQLite.SnapshotTo).
type Snapshotter interface {
	SnapshotTo(ctx context.Context, path string) error
}

// backupRoutes serves GET /api/v1/backup: a consistent copy of this
// node's store, for an admin (docs/operations.md). On an HA follower it
// is forwarded to the leader, whose store is the freshest (follower.go).
func (s *Server) backupRoutes(v1 *gin.RouterGroup) {
	s.route(v1, auth.Admin, http.MethodGet, "/backup", s.backup)
}

// snapshotter is Config.Backup, or the store when it can copy itself.
func (s *Server) snapshotter() Snapshotter {
	if s.cfg.Backup != nil {
		return s.cfg.Backup
	}
	if sn, ok := s.st.(Snapshotter); ok {
		return sn
	}
	return nil
}

// backup copies the store into a file of a new directory under
// Config.BackupDir (VACUUM INTO), streams it and deletes it.
func (s *Server) backup(c *gin.Context) {
	sn := s.snapshotter()
	if sn == nil {
		fail(c, &Error{Status: http.StatusNotImplemented, Msg: "this node keeps no store to back up"})
		return
	}
	dir := s.cfg.BackupDir
	if dir == "" {
		dir = os.TempDir()
	}
	// A directory of its own (0700): no other user reads the copy, and
	// the snapshot's file name cannot be taken by another.
	tmp, err := os.MkdirTemp(dir, store.BackupPrefix)
	if err != nil {
		fail(c, fmt.Errorf("backup: %w", err))
		return
	}
	defer os.RemoveAll(tmp)
	path := filepath.Join(tmp, "salvo.db")
	start := time.Now()
	if err := sn.SnapshotTo(c.Request.Context(), path); err != nil {
		fail(c, fmt.Errorf("backup: %w", err))
		return
	}
	f, err := os.Open(path)
	if err != nil {
		fail(c, fmt.Errorf("backup: %w", err))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		fail(c, fmt.Errorf("backup: %w", err))
		return
	}
	name := "salvo-backup-" + start.UTC().Format("20060102T150405Z") + ".db"
	h := c.Writer.Header()
	h.Set("Content-Type", BackupContentType)
	h.Set("Content-Length", strconv.FormatInt(fi.Size(), 10))
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	c.Status(http.StatusOK)
	n, err := io.Copy(c.Writer, f)
	if err != nil {
		s.cfg.Logger.Warn("backup: the copy was not sent whole", "bytes", n, "size", fi.Size(), "err", err)
		return
	}
	s.cfg.Logger.Info("backup sent", "bytes", n, "took", time.Since(start).Round(time.Millisecond), "client", c.ClientIP())
}
