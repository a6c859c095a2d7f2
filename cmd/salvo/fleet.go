package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/salvo-sh/salvo/fleet"
)

// runFleet implements `salvo fleet`: it serves a simulated fleet of hosts on
// 127.0.0.0/8 until SIGINT or SIGTERM, or with --targets prints target
// addresses and exits.
func runFleet(args []string, stdout, stderr io.Writer) error {
	def := fleet.DefaultConfig()
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: salvo fleet [flags]\n\n"+
			"Simulates --hosts HTTP hosts: host i answers on 127.1.0.0+i at the --listen port\n"+
			"with \"host=<ip> version=<v>\". With --ssh every 127.x.y.z also answers SSH on\n"+
			"--ssh-listen, running a fixed set of commands in process. Flags:\n")
		fs.PrintDefaults()
	}
	var (
		listen      = fs.String("listen", "0.0.0.0:8081", "listen address; 0.0.0.0 answers every 127.x.y.z")
		hosts       = fs.Int("hosts", def.Hosts, "number of simulated hosts (127.1.0.0 onwards)")
		bodyBytes   = fs.Int("body-bytes", 0, "pad each body with 'x' to at least this many bytes")
		latency     = fs.String("latency", "0ms-0ms", `per-host latency range "min-max" or a single duration`)
		errorRate   = fs.Float64("error-rate", 0, "share of hosts answering 500")
		slowRate    = fs.Float64("slow-rate", 0, "share of hosts adding --slow-latency")
		slowLatency = fs.Duration("slow-latency", time.Second, "extra latency of slow hosts")
		statusCodes = fs.String("status-codes", "", `shares of hosts answering other codes, e.g. "503:0.01,404:0.02"`)
		maxConc     = fs.Int("max-concurrency", 0, "overload mode: beyond this many requests in flight hosts slow down\n"+
			"(--overload-latency per max-concurrency in excess) and past --refuse-concurrency they reset\n"+
			"connections; 0 turns it off")
		overloadLat = fs.Duration("overload-latency", def.OverloadLatency, "overload mode: latency added per max-concurrency requests in excess")
		refuseConc  = fs.Int("refuse-concurrency", 0, "overload mode: reset requests beyond this many in flight (0: 2 × max-concurrency)")
		logLevel    = fs.String("log-level", "info", "log level: debug, info, warn or error")
		targets     = fs.Int("targets", 0, "print this many target addresses (ip:port) and exit")
		sshOn       = fs.Bool("ssh", false, "also answer SSH on --ssh-listen: echo, hostname, whoami, uptime, sleep N, exit N, ...")
		sshListen   = fs.String("ssh-listen", "0.0.0.0:2222", "SSH listen address; 0.0.0.0 answers every 127.x.y.z")
		sshKeys     = fs.String("ssh-authorized-keys", "", "authorized_keys `file` of the keys the SSH fleet accepts (any user)")
		sshHostKey  = fs.String("ssh-host-key", "", "private host key `file` (default: a new ed25519 key each start)")
		sshPassword = fs.String("ssh-password", "", "password the SSH fleet accepts (any user; a test credential)")
	)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("fleet: unexpected arguments %q", fs.Args())
	}

	if *targets > 0 {
		if *sshOn {
			return printTargets(stdout, *sshListen, *targets)
		}
		return printTargets(stdout, *listen, *targets)
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("fleet: --log-level: %w", err)
	}
	cfg := def
	cfg.Listen = *listen
	cfg.Hosts = *hosts
	cfg.BodyBytes = *bodyBytes
	cfg.ErrorRate = *errorRate
	cfg.SlowRate = *slowRate
	cfg.SlowLatency = *slowLatency
	cfg.MaxConcurrency = *maxConc
	cfg.OverloadLatency = *overloadLat
	cfg.RefuseConcurrency = *refuseConc
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var err error
	if cfg.LatencyMin, cfg.LatencyMax, err = fleet.ParseLatency(*latency); err != nil {
		return fmt.Errorf("fleet: --latency: %w", err)
	}
	if cfg.StatusCodes, err = fleet.ParseStatusCodes(*statusCodes); err != nil {
		return fmt.Errorf("fleet: --status-codes: %w", err)
	}

	f, err := fleet.New(cfg)
	if err != nil {
		return err
	}
	var sshSrv *fleet.SSHServer
	if *sshOn {
		sc := fleet.DefaultSSHConfig()
		sc.Listen, sc.Password, sc.Logger = *sshListen, *sshPassword, cfg.Logger
		if *sshKeys != "" {
			if sc.AuthorizedKeys, err = fleet.ReadAuthorizedKeys(*sshKeys); err != nil {
				return err
			}
		}
		if *sshHostKey != "" {
			if sc.HostKey, err = fleet.ReadHostKey(*sshHostKey); err != nil {
				return err
			}
		}
		if sshSrv, err = fleet.NewSSHServer(sc); err != nil {
			return fmt.Errorf("%w (give --ssh-authorized-keys or --ssh-password)", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := f.Start(); err != nil {
		return err
	}
	if sshSrv != nil {
		if err := sshSrv.Start(); err != nil {
			return errors.Join(err, f.Close())
		}
	}
	<-ctx.Done()
	stop()
	err = f.Close()
	if sshSrv != nil {
		err = errors.Join(err, sshSrv.Close())
	}
	return err
}

// printTargets writes n target addresses on the port of listen, one a line.
func printTargets(w io.Writer, listen string, n int) error {
	_, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("fleet: --listen %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return fmt.Errorf("fleet: --targets needs a fixed port in --listen, got %q", listen)
	}
	if n > fleet.MaxHosts {
		return fmt.Errorf("fleet: --targets %d exceeds %d hosts", n, fleet.MaxHosts)
	}
	bw := bufio.NewWriter(w)
	for i := range n {
		bw.WriteString(fleet.Target(i, port))
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("fleet: write targets: %w", err)
	}
	return nil
}
