package launch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/errorhandling"
	"github.com/sandwire/sandwire/wiring"
	"github.com/sirupsen/logrus"
)

// ServeOptions say what the handler of Handler wires and how much it reads.
type ServeOptions struct {
	// Request is what every container created through the handler is
	// wired with, as Create's request.
	Request Request
	// Scopes are the vault scopes a creator may choose for its container
	// instead of Request's, by giving it the label ScopeLabel.
	Scopes []string
	// MaxBodyBytes bounds every request body the handler decodes to
	// decide on it (creates and the other bodies of the endpoint table);
	// zero means 4 MiB. Bodies passed through unread are not bounded.
	MaxBodyBytes int64
}

// ScopeLabel is the label by which a container created through Handler
// chooses its vault scope, one of ServeOptions.Scopes. Like every terok.*
// label it is the sandbox's: the handler takes it off the spec and wires
// the container with the scope it names; on any other create it is
// refused.
const ScopeLabel = wiring.LabelPrefix + "sandbox.scope"

// requestFor is the request a create with labels is wired with, and the
// labels without ScopeLabel. A scope the serve options do not allow is
// refused.
func (o ServeOptions) requestFor(labels map[string]string) (Request, map[string]string, error) {
	scope, ok := labels[ScopeLabel]
	if !ok {
		return o.Request, labels, nil
	}
	if !slices.Contains(o.Scopes, scope) {
		allowed := "serve allows none (sandwire serve --allow-scope)"
		if len(o.Scopes) > 0 {
			allowed = "serve allows " + strings.Join(o.Scopes, ", ")
		}
		return Request{}, nil, &Refusal{What: "label " + ScopeLabel + "=" + scope, Why: "the scope is not one the creator may choose: " + allowed}
	}
	req := o.Request
	req.Scope = scope
	rest := maps.Clone(labels)
	delete(rest, ScopeLabel)
	return req, rest, nil
}

// defaultMaxBody bounds decoded bodies: a create body is a few kB.
const defaultMaxBody = 4 << 20

// dialer is a server the handler can open raw connections to;
// *podmanapi.Client is one.
type dialer interface {
	Dial(ctx context.Context) (net.Conn, error)
}

// Handler returns the handler of sandwire serve: a podman-compatible API in
// front of the sandbox's podman service. Container creates are wired, as
// Create wires them, with opts.Request; requests that would bypass or undo
// the wiring are refused with podman's error body; removals clean the
// sandbox state up; everything else is passed through unchanged, hijacked
// streams included. Each endpoint of podman's API is decided in one table
// (see the endpoints variable); a request to an endpoint it does not know
// is refused.
func (s *Sandbox) Handler(opts ServeOptions) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = defaultMaxBody
	}
	p := &proxy{sb: s, opts: opts}
	p.dial = p.dialService
	p.transport = &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return p.dial(ctx) },
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	p.forward = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "podman"
			pr.Out.Host = pr.In.Host
		},
		Transport:     p.transport,
		FlushInterval: -1, // logs, events, stats and pull progress as they come
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			badGateway(w, r, err)
		},
	}
	return p
}

// proxy is the serve handler.
type proxy struct {
	sb        *Sandbox
	opts      ServeOptions
	transport *http.Transport
	forward   *httputil.ReverseProxy
	// dial opens a raw connection to the podman service.
	dial func(ctx context.Context) (net.Conn, error)
	// up keeps the connections of passBodiless.
	up upPool
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	escaped := r.URL.EscapedPath()
	if clean := path.Clean(escaped); clean != escaped {
		// podman's router would redirect to the clean path; a proxy that
		// matched one spelling and forwarded another could be bypassed.
		writeError(w, http.StatusBadRequest, &Refusal{What: r.Method + " " + escaped, Why: "the path is not in its clean form (" + clean + ")"})
		return
	}
	ep, vars, code := match(r.Method, escaped)
	if ep == nil {
		why := "sandwire serve passes only the endpoints of podman's API it has decided on"
		if code == http.StatusMethodNotAllowed {
			why = "podman's API has no such method on this endpoint"
		}
		writeError(w, code, &Refusal{What: r.Method + " " + escaped, Why: why})
		return
	}
	logrus.Debugf("serve: %s %s: %s", r.Method, escaped, ep.why)
	ep.do(p, w, r, vars)
}

// Refusal is serve's answer to a request that would bypass or undo the
// wiring, or that it cannot decide on.
type Refusal struct {
	// What is the request, Why the reason.
	What, Why string
}

func (e *Refusal) Error() string {
	return fmt.Sprintf("sandwire refuses %s: %s", e.What, e.Why)
}

// Is reports the category ErrInvalidArgument: a policy refusal.
func (e *Refusal) Is(target error) bool { return target == ErrInvalidArgument }

// writeError answers as podman's API does: its error body with cause,
// message and response code. Tokens are redacted.
func writeError(w http.ResponseWriter, code int, err error) {
	body := errorhandling.ErrorModel{
		Because:      Redact(errorhandling.Cause(err).Error()),
		Message:      Redact(err.Error()),
		ResponseCode: code,
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		logrus.Debugf("serve: writing the answer: %v", err)
	}
}

// badGateway answers a request the podman service could not be asked, or
// did not answer.
func badGateway(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, http.StatusBadGateway, fmt.Errorf("forwarding %s %s to the podman service: %w", r.Method, r.URL.Path, err))
}

// writeLaunchError answers a failed create: the server's own error body
// when the server refused, else the status of the error's category.
func writeLaunchError(w http.ResponseWriter, err error) {
	var model *errorhandling.ErrorModel
	if errors.As(err, &model) && model.ResponseCode >= 400 {
		writeError(w, model.ResponseCode, err)
		return
	}
	writeError(w, statusOf(err), err)
}

// statusOf maps an error's category to an HTTP status.
func statusOf(err error) int {
	var refusal *Refusal
	switch {
	case errors.As(err, &refusal):
		return http.StatusForbidden
	case errors.Is(err, ErrInvalidArgument):
		return http.StatusForbidden // a spec that touches what the sandbox owns
	case errors.Is(err, ErrAlreadyExists):
		return http.StatusConflict
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrFailedPrecondition):
		return http.StatusPreconditionFailed
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// dialService opens a raw connection to the sandbox's podman service.
func (p *proxy) dialService(ctx context.Context) (net.Conn, error) {
	srv, err := p.sb.connect(ctx)
	if err != nil {
		return nil, err
	}
	d, ok := srv.(dialer)
	if !ok {
		return nil, fmt.Errorf("%w: the podman service cannot be dialled for a proxy", ErrUnavailable)
	}
	return d.Dial(ctx)
}

// pass forwards a request unchanged and streams the answer back. Upgrade
// is podman's only on the hijacked endpoints, so it is not forwarded here.
func pass(p *proxy, w http.ResponseWriter, r *http.Request, _ map[string]string) {
	if bodiless(r) {
		p.passBodiless(w, r)
		return
	}
	r.Header.Del("Upgrade")
	r.Header.Del("Connection")
	p.forward.ServeHTTP(w, r)
}

// readBody reads a body the handler decides on, bounded.
func (p *proxy) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.opts.MaxBodyBytes))
	if err != nil {
		code := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			code = http.StatusRequestEntityTooLarge
		}
		writeError(w, code, fmt.Errorf("reading the request body: %w", err))
		return nil, false
	}
	return data, true
}

// decodeBody decodes a body as podman's handlers do: one JSON value with
// encoding/json (keys matched case-insensitively, the last of duplicate
// keys winning), the rest ignored. An empty body decodes to nothing, as
// podman's decoder fails on it; the handler then forwards v's encoding, so
// the server acts on exactly what was decided on.
func (p *proxy) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	data, ok := p.readBody(w, r)
	if !ok {
		return false
	}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("decoding the request body: %w", err))
		return false
	}
	return true
}

// forwardEncoded passes r on with v's JSON encoding as its body.
func (p *proxy) forwardEncoded(w http.ResponseWriter, r *http.Request, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("encoding the request body: %w", err))
		return
	}
	setBody(r, data)
	pass(p, w, r, nil)
}

func setBody(r *http.Request, data []byte) {
	r.Body = io.NopCloser(bytes.NewReader(data))
	r.ContentLength = int64(len(data))
	r.Header.Del("Transfer-Encoding")
	r.TransferEncoding = nil
	r.Header.Set("Content-Length", fmt.Sprint(len(data)))
	r.Header.Set("Content-Type", "application/json")
}

// hijack carries an endpoint podman hijacks (attach, exec start): the
// request goes to the server on a connection of its own, the server's
// answer — 101 UPGRADED when the client asked for an upgrade, else a raw
// 200 stream with no length, or an ordinary error — goes back as it came,
// and then both directions are copied, each half-closed when its sender
// is done.
func hijack(p *proxy, w http.ResponseWriter, r *http.Request, _ map[string]string) {
	body, up, ok := p.bodyAndConn(w, r)
	if !ok {
		return
	}
	defer up.Close()
	out := r.Clone(context.WithoutCancel(r.Context()))
	setBodyRaw(out, body)
	if err := out.Write(up); err != nil {
		writeError(w, http.StatusBadGateway, fmt.Errorf("forwarding to the podman service: %w", err))
		return
	}
	upr := bufio.NewReader(up)
	resp, err := http.ReadResponse(upr, out)
	if err != nil {
		writeError(w, http.StatusBadGateway, fmt.Errorf("reading the podman service's answer: %w", err))
		return
	}
	client, clientBuf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Errorf("taking the client connection over: %w", err))
		return
	}
	defer client.Close()
	if !rawStream(resp) {
		// An answer with a length (an error before podman hijacked).
		if err := resp.Write(client); err != nil {
			logrus.Debugf("serve: writing the answer: %v", err)
		}
		return
	}
	if err := writeHead(clientBuf.Writer, resp); err != nil {
		return
	}
	splice(client, clientBuf.Reader, up, upr)
}

// bodyAndConn reads r's body, bounded, and opens a connection of r's own
// to the service; on failure it has answered the client.
func (p *proxy) bodyAndConn(w http.ResponseWriter, r *http.Request) ([]byte, net.Conn, bool) {
	body, ok := p.readBody(w, r)
	if !ok {
		return nil, nil, false
	}
	up, err := p.dial(r.Context())
	if err != nil {
		writeError(w, statusOf(err), err)
		return nil, nil, false
	}
	return body, up, true
}

// setBodyRaw gives a forwarded request its body back, as read.
func setBodyRaw(r *http.Request, body []byte) {
	r.RequestURI = ""
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.TransferEncoding = nil
	if len(body) == 0 {
		r.Body = http.NoBody
	}
}

// rawStream reports whether podman hijacked the connection: a 101, or a
// 200 with neither a length nor chunks.
func rawStream(resp *http.Response) bool {
	return resp.StatusCode == http.StatusSwitchingProtocols ||
		resp.StatusCode == http.StatusOK && resp.ContentLength < 0 && len(resp.TransferEncoding) == 0
}

// writeHead writes the status line and headers of resp as the server
// sent them, then body, and flushes.
func writeHead(w *bufio.Writer, resp *http.Response, body ...byte) error {
	fmt.Fprintf(w, "HTTP/%d.%d %s\r\n", resp.ProtoMajor, resp.ProtoMinor, resp.Status)
	if err := resp.Header.Write(w); err != nil {
		return err
	}
	w.WriteString("\r\n")
	w.Write(body)
	return w.Flush()
}

// closeWriter is a connection that can be half-closed.
type closeWriter interface{ CloseWrite() error }

// upstreamLinger is how long the client may go on sending once the server
// has finished: podman closes a hijacked connection when its stream ends.
const upstreamLinger = 10 * time.Second

// splice copies client to server and server to client, half-closing each
// direction when its source ends.
func splice(client net.Conn, clientR io.Reader, up net.Conn, upR io.Reader) {
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		_, _ = io.Copy(up, clientR)
		if cw, ok := up.(closeWriter); ok {
			_ = cw.CloseWrite()
		}
	}()
	_, _ = io.Copy(client, upR)
	if cw, ok := client.(closeWriter); ok {
		_ = cw.CloseWrite()
	}
	select {
	case <-sent:
	case <-time.After(upstreamLinger):
	}
}
