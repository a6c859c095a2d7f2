package commands

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/salvo-sh/salvo/job"
)

func TestClassify(t *testing.T) {
	dial := func(err error) error { return &ExchangeError{Phase: PhaseDial, Err: err} }
	read := func(err error) error { return &ExchangeError{Phase: PhaseRead, Err: err} }
	opErr := func(op string, errno syscall.Errno) error {
		return &net.OpError{Op: op, Net: "tcp", Err: os.NewSyscallError(op, errno)}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"dial timeout", dial(fasthttp.ErrDialTimeout), job.ClassConnectTimeout},
		{"dial timeout wrapped", fmt.Errorf("x: %w", fasthttp.ErrDialTimeout), job.ClassConnectTimeout},
		{"no free conns", fasthttp.ErrNoFreeConns, job.ClassConnectTimeout},
		{"refused", dial(opErr("connect", syscall.ECONNREFUSED)), job.ClassConnectRefused},
		{"unreachable", dial(opErr("connect", syscall.EHOSTUNREACH)), job.ClassConnectRefused},
		{"dial etimedout", dial(opErr("connect", syscall.ETIMEDOUT)), job.ClassConnectTimeout},
		{"dial other", dial(errors.New("weird")), job.ClassConnectRefused},
		{"dns", dial(&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}), job.ClassDNS},
		{"dns no entries", dial(errors.New("couldn't find dns entries for the given domain: try using dual-stack dialing")), job.ClassDNS},
		{"dns timeout", dial(&net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true}), job.ClassDNS},
		{"reset", read(opErr("read", syscall.ECONNRESET)), job.ClassReset},
		{"epipe", &ExchangeError{Phase: PhaseWrite, Err: opErr("write", syscall.EPIPE)}, job.ClassReset},
		{"eof", read(io.EOF), job.ClassProtocol},
		{"connection closed", fasthttp.ErrConnectionClosed, job.ClassReset},
		{"read timeout", read(os.ErrDeadlineExceeded), job.ClassTimeout},
		{"fasthttp timeout", fasthttp.ErrTimeout, job.ClassTimeout},
		{"context deadline", context.DeadlineExceeded, job.ClassTimeout},
		{"tls handshake timeout", fasthttp.ErrTLSHandshakeTimeout, job.ClassTimeout},
		{"unknown authority", &ExchangeError{Phase: PhaseTLS, Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, job.ClassTLS},
		{"hostname", x509.HostnameError{Host: "x", Certificate: &x509.Certificate{}}, job.ClassTLS},
		{"record header", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, job.ClassTLS},
		{"alert", tls.AlertError(40), job.ClassTLS},
		{"tls phase other", &ExchangeError{Phase: PhaseTLS, Err: errors.New("handshake failure")}, job.ClassTLS},
		{"too large", fasthttp.ErrBodyTooLarge, job.ClassTooLarge},
		{"small buffer", read(&fasthttp.ErrSmallBuffer{}), job.ClassTooLarge},
		{"parse", read(errors.New("error when reading response headers: cannot find whitespace")), job.ClassProtocol},
		{"parse unwrapped", errors.New("error when reading response headers: junk"), job.ClassProtocol},
		{"body parse", &ExchangeError{Phase: PhaseReadBody, Err: errors.New("cannot parse chunk size")}, job.ClassProtocol},
		{"closed executor", &ExchangeError{Phase: PhaseTransport, Err: ErrExecutorClosed}, job.ClassOther},
		{"cancelled", context.Canceled, job.ClassOther},
		{"other", errors.New("boom"), job.ClassOther},
	}
	for _, tc := range tests {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify(%v) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	retry := map[string]bool{job.ClassConnectRefused: true, job.ClassConnectTimeout: true, job.ClassTimeout: true, job.ClassReset: true}
	for _, c := range []string{job.ClassDNS, job.ClassConnectRefused, job.ClassConnectTimeout, job.ClassReset, job.ClassTLS, job.ClassTimeout,
		job.ClassAuth, job.ClassHostKey, job.ClassHostKeyUnknown, job.ClassHostKeyChanged, job.ClassProtocol, job.ClassTooLarge, job.ClassWorkerLost, job.ClassOther, ""} {
		if Retryable(c) != retry[c] {
			t.Errorf("Retryable(%q) = %v", c, Retryable(c))
		}
	}
}
