package fleet

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// Paths with their own meaning; every other path answers the host's body.
const (
	// StatsPath answers {"requests": N, "inFlight": M, "refused": R} on any
	// address and is not counted as a request.
	StatsPath = "/__fleet/stats"
	// EchoPath answers, for an in-fleet host, an EchoReply describing the
	// request, with no latency or failure injected.
	EchoPath = "/echo"
)

const (
	contentTypeText = "text/plain; charset=utf-8"
	contentTypeJSON = "application/json"
)

// EchoReply is the JSON body answered on EchoPath.
type EchoReply struct {
	// Host is the host address the request reached.
	Host string `json:"host"`
	// Method is the request method.
	Method string `json:"method"`
	// Path is the request path, without the query.
	Path string `json:"path"`
	// Query is the raw query string, without '?'.
	Query string `json:"query"`
	// Headers holds the request's X-* headers (canonical names); repeated
	// headers are joined with ", ".
	Headers map[string]string `json:"headers"`
	// Body is the request body.
	Body string `json:"body"`
}

// handle is the fasthttp handler for every host.
func (f *Fleet) handle(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if string(path) == StatsPath {
		f.serveStats(ctx)
		return
	}
	inFlight := f.inFlight.Add(1)
	refused := false
	defer func() {
		if refused {
			f.inFlight.Add(-1)
			f.refused.Add(1)
			return
		}
		f.finish()
	}()

	i, ok := f.hostOf(ctx)
	if !ok {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetContentType(contentTypeText)
		ctx.SetBodyString(unknownHostBody)
		return
	}
	f.hits[i].Add(1)
	if string(path) == EchoPath {
		f.serveEcho(ctx, i)
		return
	}
	b := f.cfg.behaviourOf(i)
	latency := b.latency
	if f.cfg.MaxConcurrency > 0 {
		if inFlight > f.cfg.refuseAt() {
			refused = true
			resetConn(ctx)
			return
		}
		latency += f.cfg.overloadDelay(inFlight)
	}
	if latency > 0 {
		f.sleep(latency)
	}
	var scratch [64]byte
	head := appendHead(scratch[:0], i, b.status)
	ctx.SetStatusCode(b.status)
	ctx.SetContentType(contentTypeText)
	ctx.Response.AppendBody(head)
	if pad := f.padding(len(head)); len(pad) > 0 {
		ctx.Response.AppendBody(pad)
	}
}

// resetConn closes the request's connection with an RST and no answer,
// as an overloaded service's load shedder does: the client reads
// ECONNRESET.
func resetConn(ctx *fasthttp.RequestCtx) {
	if tc, ok := ctx.Conn().(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(net.Conn) {}) // fasthttp closes the connection after this returns
}

// finish counts a served request.
func (f *Fleet) finish() {
	f.inFlight.Add(-1)
	f.requests.Add(1)
}

// sleep waits d, or less when the fleet closes.
func (f *Fleet) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-f.done:
	}
}

// hostOf returns the in-fleet host index of the connection's destination
// address.
func (f *Fleet) hostOf(ctx *fasthttp.RequestCtx) (int, bool) {
	addr, ok := ctx.LocalAddr().(*net.TCPAddr)
	if !ok {
		return 0, false
	}
	ip4 := addr.IP.To4()
	if ip4 == nil {
		return 0, false
	}
	i, ok := indexOfIP(binary.BigEndian.Uint32(ip4))
	if !ok || i >= f.cfg.Hosts {
		return 0, false
	}
	return i, true
}

// serveStats answers StatsPath.
func (f *Fleet) serveStats(ctx *fasthttp.RequestCtx) {
	var scratch [128]byte
	b := append(scratch[:0], `{"requests": `...)
	b = strconv.AppendUint(b, f.requests.Load(), 10)
	b = append(b, `, "inFlight": `...)
	b = strconv.AppendInt(b, f.inFlight.Load(), 10)
	b = append(b, `, "refused": `...)
	b = strconv.AppendUint(b, f.refused.Load(), 10)
	b = append(b, "}\n"...)
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(b)
}

// serveEcho answers EchoPath for host i.
func (f *Fleet) serveEcho(ctx *fasthttp.RequestCtx, i int) {
	reply := EchoReply{
		Host:    HostAddr(i),
		Method:  string(ctx.Method()),
		Path:    string(ctx.Path()),
		Query:   string(ctx.URI().QueryString()),
		Headers: map[string]string{},
		Body:    string(ctx.PostBody()),
	}
	for k, v := range ctx.Request.Header.All() {
		if len(k) < 2 || !bytes.EqualFold(k[:2], []byte("x-")) {
			continue
		}
		name := string(k)
		if prev, ok := reply.Headers[name]; ok {
			reply.Headers[name] = prev + ", " + string(v)
		} else {
			reply.Headers[name] = string(v)
		}
	}
	body, err := json.Marshal(reply)
	if err != nil {
		ctx.Error("echo: "+err.Error(), fasthttp.StatusInternalServerError)
		return
	}
	ctx.SetContentType(contentTypeJSON)
	ctx.SetBody(append(body, '\n'))
}
