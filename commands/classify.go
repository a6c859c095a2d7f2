package commands

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/valyala/fasthttp"

	"github.com/salvo-sh/salvo/job"
)

// Phases of an HTTP exchange, carried by *ExchangeError.
const (
	PhaseDial      = "dial"
	PhaseTLS       = "tls handshake"
	PhaseWrite     = "write request"
	PhaseRead      = "read response"
	PhaseReadBody  = "read body"
	PhaseTransport = "transport"
)

// ExchangeError is an HTTP executor error with the phase it happened in.
type ExchangeError struct {
	Phase string
	Err   error
}

func (e *ExchangeError) Error() string { return e.Phase + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *ExchangeError) Unwrap() error { return e.Err }

// Classify maps an execution error to an error class (docs/design.md §3): it
// knows fasthttp's errors, net and DNS errors, syscall errnos, TLS and x509
// errors, and the phase of an *ExchangeError. It returns "" for nil.
func Classify(err error) string {
	if err == nil {
		return ""
	}
	var phase string
	var xe *ExchangeError
	if errors.As(err, &xe) {
		phase = xe.Phase
	}
	if c := classifyCause(err, phase); c != "" {
		return c
	}
	switch phase {
	case PhaseDial:
		return job.ClassConnectRefused
	case PhaseTLS:
		return job.ClassTLS
	case PhaseRead, PhaseReadBody:
		return job.ClassProtocol
	}
	return job.ClassOther
}

// classifyCause recognises the error itself; "" when it does not know it.
func classifyCause(err error, phase string) string {
	var dnsErr *net.DNSError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	var verifyErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var alertErr tls.AlertError
	var smallBuf *fasthttp.ErrSmallBuffer
	var brokenChunk fasthttp.ErrBrokenChunk
	switch {
	case errors.Is(err, job.ErrPolicy):
		return job.ClassPolicy
	case errors.Is(err, fasthttp.ErrDialTimeout):
		return job.ClassConnectTimeout
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		// No connection could be had in time: a local connect failure.
		return job.ClassConnectTimeout
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return job.ClassTooLarge
	case errors.As(err, &dnsErr):
		return job.ClassDNS
	case errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &certInvalid),
		errors.As(err, &verifyErr), errors.As(err, &recordErr), errors.As(err, &alertErr):
		return job.ClassTLS
	case errors.Is(err, fasthttp.ErrTLSHandshakeTimeout):
		return job.ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTDOWN):
		return job.ClassConnectRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, fasthttp.ErrConnectionClosed):
		return job.ClassReset
	case errors.Is(err, syscall.ETIMEDOUT):
		if phase == PhaseDial {
			return job.ClassConnectTimeout
		}
		return job.ClassTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// The peer closed the connection cleanly (a FIN, not a reset)
		// before a complete response: it broke the protocol.
		return job.ClassProtocol
	case errors.As(err, &smallBuf):
		// Response headers beyond HTTPConfig.MaxHeaderBytes.
		return job.ClassTooLarge
	case errors.As(err, &brokenChunk):
		return job.ClassProtocol
	}
	if isNoDNSEntries(err) {
		return job.ClassDNS
	}
	if isTimeout(err) {
		if phase == PhaseDial {
			return job.ClassConnectTimeout
		}
		return job.ClassTimeout
	}
	if phase == "" && strings.Contains(err.Error(), "error when reading response headers") {
		return job.ClassProtocol
	}
	return ""
}

// isTimeout reports a deadline or timeout error.
func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// isNoDNSEntries recognises fasthttp's unexported "no DNS entries" error.
func isNoDNSEntries(err error) bool {
	return strings.Contains(err.Error(), "couldn't find dns entries")
}

// Retryable reports whether an error class is worth another attempt:
// connect errors, resets and timeouts.
func Retryable(class string) bool {
	switch class {
	case job.ClassConnectRefused, job.ClassConnectTimeout, job.ClassTimeout, job.ClassReset:
		return true
	}
	return false
}
