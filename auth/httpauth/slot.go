package httpauth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// maxAnswer caps the answer body read from the service.
const maxAnswer = 64 << 10

// idleTimeout is how long a slot's connection may sit unused before the
// slot closes it (the next request opens a new one).
const idleTimeout = 90 * time.Second

// slot is one request at a time over one keep-alive HTTP/1.1 connection
// that the slot owns: it is replaced only when it fails, the service
// closes it, it sat idle for idleTimeout, or a request on it was
// abandoned. net/http's Transport was not enough here: it may close a
// healthy connection (a request whose write it did not see finish within
// 50 ms, under CPU load) and open another, so the number of connections
// opened was not bounded by the pool.
type slot struct {
	u      *url.URL
	tlsCfg *tls.Config // nil for http

	conn   net.Conn // nil: none open
	br     *bufio.Reader
	bw     *bufio.Writer
	usedAt time.Time
}

// newSlot returns a slot for the service at u; cfg (may be nil) is the
// TLS configuration of an https URL.
func newSlot(u *url.URL, cfg *tls.Config) *slot {
	sl := &slot{u: u}
	if u.Scheme == "https" {
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		sl.tlsCfg = cfg.Clone()
		if sl.tlsCfg.ServerName == "" {
			sl.tlsCfg.ServerName = u.Hostname()
		}
		sl.tlsCfg.NextProtos = []string{"http/1.1"}
	}
	return sl
}

// address is host:port of the service.
func (sl *slot) address() string {
	if sl.u.Port() != "" {
		return sl.u.Host
	}
	if sl.tlsCfg != nil {
		return net.JoinHostPort(sl.u.Hostname(), "443")
	}
	return net.JoinHostPort(sl.u.Hostname(), "80")
}

// dial opens the slot's connection.
func (sl *slot) dial(ctx context.Context) error {
	var d net.Dialer
	var c net.Conn
	var err error
	if sl.tlsCfg != nil {
		c, err = (&tls.Dialer{NetDialer: &d, Config: sl.tlsCfg}).DialContext(ctx, "tcp", sl.address())
	} else {
		c, err = d.DialContext(ctx, "tcp", sl.address())
	}
	if err != nil {
		return fmt.Errorf("connect to the service: %w", err)
	}
	sl.conn, sl.br, sl.bw = c, bufio.NewReader(c), bufio.NewWriter(c)
	return nil
}

// close closes the slot's connection, if any.
func (sl *slot) close() {
	if sl.conn != nil {
		_ = sl.conn.Close()
		sl.conn, sl.br, sl.bw = nil, nil, nil
	}
}

// post sends body as a JSON POST and returns the status and the answer
// body (at most maxAnswer bytes). A reused connection the service had
// closed meanwhile is retried once on a new one (the request only asks a
// question, so sending it twice is harmless). ctx bounds the whole call.
func (sl *slot) post(ctx context.Context, body []byte) (int, []byte, error) {
	if sl.conn != nil && time.Since(sl.usedAt) > idleTimeout {
		sl.close()
	}
	for attempt := 0; ; attempt++ {
		reused := sl.conn != nil
		if !reused {
			if err := sl.dial(ctx); err != nil {
				return 0, nil, err
			}
		}
		status, data, err := sl.exchange(ctx, body)
		if err == nil {
			sl.usedAt = time.Now()
			return status, data, nil
		}
		sl.close()
		if !reused || attempt > 0 || ctx.Err() != nil || !staleConn(err) {
			return 0, nil, err
		}
	}
}

// exchange writes one request and reads its answer on the open
// connection; on any error the caller closes the connection.
func (sl *slot) exchange(ctx context.Context, body []byte) (int, []byte, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = sl.conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = sl.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sl.u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "iothub")
	if err := req.Write(sl.bw); err != nil {
		return 0, nil, fmt.Errorf("send request: %w", err)
	}
	if err := sl.bw.Flush(); err != nil {
		return 0, nil, fmt.Errorf("send request: %w", err)
	}
	resp, err := http.ReadResponse(sl.br, req)
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	_ = resp.Body.Close()
	switch {
	case err != nil:
		return 0, nil, fmt.Errorf("read answer: %w", err)
	case len(data) > maxAnswer:
		return 0, nil, fmt.Errorf("answer longer than %d bytes", maxAnswer)
	case resp.Close:
		sl.close()
	default:
		_ = sl.conn.SetDeadline(time.Time{})
	}
	return resp.StatusCode, data, nil
}

// staleConn reports whether err looks like a kept-alive connection the
// service closed while it was idle: worth one retry on a new connection.
func staleConn(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, new(*net.OpError))
}
