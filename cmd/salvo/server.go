package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/salvo-sh/salvo/conf"
	"github.com/salvo-sh/salvo/internal/server"
)

// runServer starts a node and serves until SIGINT or SIGTERM.
func runServer(args []string, stderr io.Writer) int {
	cfg, err := conf.Load(args, os.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "salvo server:", err)
		return 2
	}
	logger := cfg.Logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := server.Start(ctx, cfg, logger)
	if err != nil {
		logger.Error("cannot start", "err", err)
		return 1
	}
	if err := srv.Wait(ctx); err != nil {
		logger.Error("shutdown", "err", err)
		return 1
	}
	return 0
}
