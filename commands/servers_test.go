package commands

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// rawServer is a loopback TCP server whose per-connection behaviour is a
// function; it counts accepted connections and closes everything on
// cleanup.
type rawServer struct {
	ln       net.Listener
	accepted atomic.Int64
	acceptCh chan struct{} // one value per accepted connection, never blocks
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	done     chan struct{}
}

func startRawServer(t testing.TB, handle func(c net.Conn, done <-chan struct{})) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s := &rawServer{ln: ln, acceptCh: make(chan struct{}, 1024), conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted.Add(1)
			select {
			case s.acceptCh <- struct{}{}:
			default:
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				handle(c, s.done)
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		close(s.done)
		ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) hostPort() string { return s.ln.Addr().String() }

// readRequestHead reads until the end of the request headers (or error).
func readRequestHead(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	var got []byte
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil || len(got) > 1<<16 {
			return
		}
		for i := 0; i+3 < len(got); i++ {
			if got[i] == '\r' && got[i+1] == '\n' && got[i+2] == '\r' && got[i+3] == '\n' {
				return
			}
		}
	}
}

// hangHandler reads the request and never answers.
func hangHandler(c net.Conn, done <-chan struct{}) {
	readRequestHead(c)
	<-done
	c.Close()
}

// resetHandler reads the request and resets the connection (SO_LINGER 0).
func resetHandler(c net.Conn, _ <-chan struct{}) {
	readRequestHead(c)
	_ = c.(*net.TCPConn).SetLinger(0)
	c.Close()
}

// endlessHandler answers 200 with a body that never ends, in the given
// framing: "chunked", "identity" (no length, until close) or "length" (a
// huge Content-Length).
func endlessHandler(framing string) func(net.Conn, <-chan struct{}) {
	return func(c net.Conn, done <-chan struct{}) {
		defer c.Close()
		readRequestHead(c)
		head := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
		switch framing {
		case "chunked":
			head += "Transfer-Encoding: chunked\r\n\r\n"
		case "identity":
			head += "Connection: close\r\n\r\n"
		case "length":
			head += "Content-Length: " + strconv.Itoa(1<<30) + "\r\n\r\n"
		}
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		chunk := make([]byte, 1024)
		for i := range chunk {
			chunk[i] = 'x'
		}
		for {
			select {
			case <-done:
				return
			default:
			}
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			var err error
			if framing == "chunked" {
				_, err = io.WriteString(c, "400\r\n"+string(chunk)+"\r\n")
			} else {
				_, err = c.Write(chunk)
			}
			if err != nil {
				return
			}
		}
	}
}

// startFastHTTP serves h on a loopback listener until cleanup.
func startFastHTTP(t testing.TB, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := &fasthttp.Server{Handler: h, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.ShutdownWithContext(ctx)
		// Serve may not have registered the listener yet when Shutdown ran.
		ln.Close()
		<-errc
	})
	return ln.Addr().String()
}

// freePort returns a loopback port nothing listens on.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}
