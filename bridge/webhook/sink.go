package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iothub-dev/iothub/bridge"
)

// DefaultSignatureHeader carries the body's HMAC-SHA256.
const DefaultSignatureHeader = "X-Iothub-Signature"

// Options configure a Sink.
type Options struct {
	// Method is POST (default) or PUT.
	Method string
	// Secret, when set, signs each body with HMAC-SHA256.
	Secret []byte
	// SignatureHeader carries the signature (default X-Iothub-Signature).
	SignatureHeader string
	// PoolSize bounds the connections per host, idle ones included, and
	// the requests a batch has in flight (default 8).
	PoolSize int
	// Timeout bounds one request, answer included (default 5s).
	Timeout time.Duration
	// ConnectTimeout bounds a TCP connection and a TLS handshake
	// (default 5s).
	ConnectTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long (default
	// 90s).
	IdleTimeout time.Duration
	// TLS configures https URLs (nil: the system roots).
	TLS *tls.Config
	// HealthURL, when set, is requested (HEAD) by Health: any HTTP answer
	// within Timeout means the receiver is up, so a receiver that accepts
	// connections and never answers shows as disconnected without records.
	HealthURL string
	// Logger receives the sink's logs (default slog.Default()).
	Logger *slog.Logger
}

// Sink is a bridge.Sink sending HTTP requests.
type Sink struct {
	o   Options
	cl  *http.Client
	tr  *http.Transport
	log *slog.Logger
}

// New checks o and returns a sink.
func New(o Options) (*Sink, error) {
	switch o.Method {
	case "":
		o.Method = http.MethodPost
	case http.MethodPost, http.MethodPut:
	default:
		return nil, fmt.Errorf("webhook: method %q: want POST or PUT", o.Method)
	}
	if o.SignatureHeader == "" {
		o.SignatureHeader = DefaultSignatureHeader
	}
	setDefault(&o.PoolSize, 8)
	setDefault(&o.Timeout, 5*time.Second)
	setDefault(&o.ConnectTimeout, 5*time.Second)
	setDefault(&o.IdleTimeout, 90*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       o.TLS,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		MaxConnsPerHost:       o.PoolSize,
		MaxIdleConnsPerHost:   o.PoolSize,
		IdleConnTimeout:       o.IdleTimeout,
		ResponseHeaderTimeout: o.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	cl := &http.Client{Transport: tr, Timeout: o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &Sink{o: o, cl: cl, tr: tr, log: o.Logger}, nil
}

func setDefault[T int | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

// CheckRecord returns an error for a record no request can carry: a URL
// that is not absolute http(s), a header value with control characters.
// The bridge refuses such records when they are enqueued.
func CheckRecord(r *bridge.Record) error {
	u, err := url.Parse(r.Topic)
	if err != nil {
		return fmt.Errorf("webhook: url %q: %w", r.Topic, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("webhook: url %q: want an absolute http or https URL", r.Topic)
	}
	for _, h := range r.Headers {
		if strings.IndexFunc(string(h.Value), func(c rune) bool { return c < ' ' && c != '\t' || c == 0x7f }) >= 0 {
			return fmt.Errorf("webhook: header %s: control character in the value", h.Key)
		}
	}
	return nil
}

// Sign returns the signature header value for body: "sha256=<hex>".
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header (the signature header's value) is the
// signature of body with secret, in constant time.
func Verify(secret, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	sum, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(sum, m.Sum(nil))
}

// Send sends recs: records of one key in order, keys concurrently, at
// most PoolSize requests at once (see the package documentation). It
// returns each record's fate (*bridge.BatchError): after a retryable
// failure no further request starts, and the records not sent get that
// error, so that only they are sent again.
func (s *Sink) Send(ctx context.Context, recs []bridge.Record) error {
	errs := make([]error, len(recs))
	ok := make([]bool, len(recs)) // answered 2xx
	var (
		stop     atomic.Bool
		mu       sync.Mutex
		firstErr error // the first retryable failure
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
		stop.Store(true)
	}
	sem := make(chan struct{}, s.o.PoolSize)
	var wg sync.WaitGroup
	for _, idx := range groups(recs) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k, i := range idx {
				if stop.Load() {
					return // the rest is sent again, in order
				}
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					fail(ctx.Err())
					return
				}
				err := s.do(ctx, &recs[i])
				<-sem
				errs[i], ok[i] = err, err == nil
				if err != nil && !bridge.IsPermanent(err) {
					fail(err)
					for _, j := range idx[k+1:] { // this key's later records wait for the retry, in order
						errs[j] = err
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	failed := false
	for j := range recs {
		if !ok[j] && errs[j] == nil { // not sent: a retryable failure stopped the batch
			errs[j] = firstErr
		}
		failed = failed || errs[j] != nil
	}
	if !failed {
		return nil
	}
	return &bridge.BatchError{Errs: errs}
}

// groups returns the indexes of recs by key, keys in order of first
// appearance.
func groups(recs []bridge.Record) [][]int {
	at := map[string]int{}
	var out [][]int
	for i := range recs {
		k := string(recs[i].Key)
		g, ok := at[k]
		if !ok {
			g = len(out)
			at[k] = g
			out = append(out, nil)
		}
		out[g] = append(out[g], i)
	}
	return out
}

// do sends one record and classifies the outcome.
func (s *Sink) do(ctx context.Context, r *bridge.Record) error {
	if err := CheckRecord(r); err != nil {
		return bridge.Permanent(err)
	}
	req, err := http.NewRequestWithContext(ctx, s.o.Method, r.Topic, bytes.NewReader(r.Value))
	if err != nil {
		return bridge.Permanent(fmt.Errorf("webhook: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "iothub-webhook")
	for _, h := range r.Headers {
		req.Header.Set(h.Key, string(h.Value))
	}
	if len(s.o.Secret) > 0 {
		req.Header.Set(s.o.SignatureHeader, Sign(s.o.Secret, r.Value))
	}
	resp, err := s.cl.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %s %s: %w", s.o.Method, redact(r.Topic), err)
	}
	// Read (a bounded part of) the body so that the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		return nil
	case c >= 500, c == http.StatusRequestTimeout, c == http.StatusTooManyRequests:
		return fmt.Errorf("webhook: %s %s: %s", s.o.Method, redact(r.Topic), resp.Status)
	default:
		return bridge.Permanent(fmt.Errorf("webhook: %s %s: %s", s.o.Method, redact(r.Topic), resp.Status))
	}
}

// redact drops a URL's user information and query from logs and errors.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(bad url)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// Health implements bridge.HealthChecker: a HEAD request to HealthURL
// must be answered (any status) within Timeout. Without HealthURL it
// reports nothing new (nil).
func (s *Sink) Health(ctx context.Context) error {
	if s.o.HealthURL == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, s.o.HealthURL, nil)
	if err != nil {
		return fmt.Errorf("webhook: health: %w", err)
	}
	req.Header.Set("User-Agent", "iothub-webhook")
	resp, err := s.cl.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: health: HEAD %s: %w", redact(s.o.HealthURL), err)
	}
	_ = resp.Body.Close()
	return nil
}

// Close closes the idle connections.
func (s *Sink) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

var (
	_ bridge.Sink          = (*Sink)(nil)
	_ bridge.HealthChecker = (*Sink)(nil)
)

// errNoSecret is returned by VerifyRequest without a secret.
var errNoSecret = errors.New("webhook: no secret")

// VerifyRequest reads r's body and checks its signature header (default
// X-Iothub-Signature) with secret; it returns the body when valid. A
// receiver written in Go can use it as is (docs/bridges.md).
func VerifyRequest(r *http.Request, secret []byte, header string, maxBytes int64) ([]byte, error) {
	if len(secret) == 0 {
		return nil, errNoSecret
	}
	if header == "" {
		header = DefaultSignatureHeader
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBytes))
	if err != nil {
		return nil, fmt.Errorf("webhook: read body: %w", err)
	}
	if !Verify(secret, body, r.Header.Get(header)) {
		return nil, errors.New("webhook: bad signature")
	}
	return body, nil
}
