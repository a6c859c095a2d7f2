package scaling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/conf"
)

// Directions of a Document.
const (
	DirectionUp   = "up"
	DirectionDown = "down"
)

// Document is what a hook gets, as JSON on its standard input (exec) or
// as the body of a POST (webhook); an exec hook also gets its main
// fields as SALVO_SCALE_* environment variables (docs/scaling.md).
type Document struct {
	Tag       string `json:"tag"`
	Direction string `json:"direction"`
	// Change is +1 (up) or -1 (down); Current is the tag's registered
	// workers and Desired Current + Change.
	Change  int `json:"change"`
	Current int `json:"current"`
	Desired int `json:"desired"`
	// Worker names the worker to stop (down): drained, it holds no job.
	Worker string `json:"worker,omitempty"`
	// Reason says why, in words.
	Reason string `json:"reason"`
	// Load is the tag's load when the scaler decided; WorkerLoad the
	// worker's figures once drained (down).
	Load       actors.TagLoad     `json:"load"`
	WorkerLoad *actors.LoadWorker `json:"workerLoad,omitempty"`
	Time       time.Time          `json:"time"`
}

// env returns the document's SALVO_SCALE_* variables.
func (d *Document) env() []string {
	return []string{
		"SALVO_SCALE_TAG=" + d.Tag,
		"SALVO_SCALE_DIRECTION=" + d.Direction,
		"SALVO_SCALE_CHANGE=" + strconv.Itoa(d.Change),
		"SALVO_SCALE_CURRENT=" + strconv.Itoa(d.Current),
		"SALVO_SCALE_DESIRED=" + strconv.Itoa(d.Desired),
		"SALVO_SCALE_WORKER=" + d.Worker,
		"SALVO_SCALE_WAITING=" + strconv.Itoa(d.Load.Waiting),
		"SALVO_SCALE_OLDEST_WAITING_SECONDS=" + strconv.FormatFloat(d.Load.OldestWaitingSeconds, 'f', 1, 64),
	}
}

// maxHookOutput bounds what is kept of a hook's output (or a webhook's
// answer) for the log.
const maxHookOutput = 4 << 10

// hookWaitDelay is how long an exec hook's output may stay open after it
// exited (a background process it started without redirecting it).
const hookWaitDelay = 2 * time.Second

// RunHook calls a hook with a document within the hook's timeout, and
// returns the start of its output (or answer) for the log. An exec hook
// is `/bin/sh -c EXEC` with the document on its standard input and the
// SALVO_SCALE_* variables added to the node's environment (hookEnviron); it fails when
// it exits non-zero, and its process group is killed at the timeout or
// when ctx ends. A webhook is a POST of the document that fails unless it
// answers 2xx.
func RunHook(ctx context.Context, h conf.ScalingHook, doc *Document) (string, error) {
	body, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("encode the document: %w", err)
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = conf.DefaultScalingHookTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("the hook took longer than its timeout %s", timeout))
	defer cancel()
	if h.Webhook != "" {
		return postHook(ctx, h.Webhook, body)
	}
	return execHook(ctx, h.Exec, body, doc.env())
}

func execHook(ctx context.Context, line string, body []byte, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", line)
	cmd.Stdin = bytes.NewReader(body)
	cmd.Env = append(hookEnviron(os.Environ()), env...)
	out := &headBuffer{max: maxHookOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = hookWaitDelay
	killGroup(cmd)
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return out.String(), fmt.Errorf("exec hook killed: %w", context.Cause(ctx))
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited 0, and something it started keeps its output open.
		return out.String(), nil
	case err != nil:
		return out.String(), fmt.Errorf("exec hook: %w", err)
	}
	return out.String(), nil
}

// hookEnviron is the node's environment without the SALVO_* settings of
// `salvo server` (a worker the hook starts must not take the master's),
// keeping the CLI's SALVO_SERVER and SALVO_TOKEN.
func hookEnviron(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SALVO_") && name != "SALVO_SERVER" && name != "SALVO_TOKEN" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// hookClient carries webhooks; each call is bounded by its hook's
// timeout through its context.
var hookClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: conf.MaxScalingHookTimeout,
	DisableKeepAlives:     true,
}}

func postHook(ctx context.Context, target string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return "", errors.New("webhook: not a URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "salvo-scaler")
	resp, err := hookClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the URL, which may hold a secret
		}
		if ctx.Err() != nil {
			err = context.Cause(ctx)
		}
		return "", fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxHookOutput))
	if resp.StatusCode/100 != 2 {
		return string(answer), fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return string(answer), nil
}

// headBuffer keeps the first max bytes written to it; it is safe for the
// two copiers of a command's stdout and stderr.
type headBuffer struct {
	mu        sync.Mutex
	b         bytes.Buffer
	max       int
	truncated bool
}

func (h *headBuffer) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if room := h.max - h.b.Len(); room < len(p) {
		h.b.Write(p[:max(room, 0)])
		h.truncated = true
	} else {
		h.b.Write(p)
	}
	return len(p), nil
}

func (h *headBuffer) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := strings.TrimSpace(h.b.String())
	if h.truncated {
		s += " …"
	}
	return s
}
