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
		{"dial timeout", dial(fasthttp.ErrDialTimeout), ClassConnectTimeout},
		{"dial timeout wrapped", fmt.Errorf("x: %w", fasthttp.ErrDialTimeout), ClassConnectTimeout},
		{"no free conns", fasthttp.ErrNoFreeConns, ClassConnectTimeout},
		{"refused", dial(opErr("connect", syscall.ECONNREFUSED)), ClassConnectRefused},
		{"unreachable", dial(opErr("connect", syscall.EHOSTUNREACH)), ClassConnectRefused},
		{"dial etimedout", dial(opErr("connect", syscall.ETIMEDOUT)), ClassConnectTimeout},
		{"dial other", dial(errors.New("weird")), ClassConnectRefused},
		{"dns", dial(&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}), ClassDNS},
		{"dns no entries", dial(errors.New("couldn't find dns entries for the given domain: try using dual-stack dialing")), ClassDNS},
		{"dns timeout", dial(&net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true}), ClassDNS},
		{"reset", read(opErr("read", syscall.ECONNRESET)), ClassReset},
		{"epipe", &ExchangeError{Phase: PhaseWrite, Err: opErr("write", syscall.EPIPE)}, ClassReset},
		{"eof", read(io.EOF), ClassReset},
		{"connection closed", fasthttp.ErrConnectionClosed, ClassReset},
		{"read timeout", read(os.ErrDeadlineExceeded), ClassTimeout},
		{"fasthttp timeout", fasthttp.ErrTimeout, ClassTimeout},
		{"context deadline", context.DeadlineExceeded, ClassTimeout},
		{"tls handshake timeout", fasthttp.ErrTLSHandshakeTimeout, ClassTimeout},
		{"unknown authority", &ExchangeError{Phase: PhaseTLS, Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, ClassTLS},
		{"hostname", x509.HostnameError{Host: "x", Certificate: &x509.Certificate{}}, ClassTLS},
		{"record header", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, ClassTLS},
		{"alert", tls.AlertError(40), ClassTLS},
		{"tls phase other", &ExchangeError{Phase: PhaseTLS, Err: errors.New("handshake failure")}, ClassTLS},
		{"too large", fasthttp.ErrBodyTooLarge, ClassTooLarge},
		{"small buffer", read(&fasthttp.ErrSmallBuffer{}), ClassProtocol},
		{"parse", read(errors.New("error when reading response headers: cannot find whitespace")), ClassProtocol},
		{"parse unwrapped", errors.New("error when reading response headers: junk"), ClassProtocol},
		{"body parse", &ExchangeError{Phase: PhaseReadBody, Err: errors.New("cannot parse chunk size")}, ClassProtocol},
		{"closed executor", &ExchangeError{Phase: PhaseTransport, Err: ErrExecutorClosed}, ClassOther},
		{"cancelled", context.Canceled, ClassOther},
		{"other", errors.New("boom"), ClassOther},
	}
	for _, tc := range tests {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify(%v) = %q, want %q", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	retry := map[string]bool{ClassConnectRefused: true, ClassConnectTimeout: true, ClassTimeout: true, ClassReset: true}
	for _, c := range []string{ClassDNS, ClassConnectRefused, ClassConnectTimeout, ClassReset, ClassTLS, ClassTimeout,
		ClassAuth, ClassHostKey, ClassProtocol, ClassTooLarge, ClassWorkerLost, ClassOther, ""} {
		if Retryable(c) != retry[c] {
			t.Errorf("Retryable(%q) = %v", c, Retryable(c))
		}
	}
}
