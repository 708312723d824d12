package app

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const devicesUsage = `Usage:
  iothub devices list [--prefix P] [--group G] [--attr NAME=VALUE]... [--enabled true|false]
                      [--connected true|false] [--limit N] [--cursor C]
  iothub devices get ID
  iothub devices add ID [--group G]... [--attr NAME=VALUE]... [--disabled]
                        [--password-stdin] [--cert-fingerprint SHA256]
  iothub devices update ID [the flags of add] [--enabled true|false]
  iothub devices remove ID
  iothub devices import FILE.csv|FILE.jsonl [--upsert]
Talks to a running hub's HTTP API: --api URL (env IOTHUB_API_URL, default
http://localhost:18083) with --key KEY (env IOTHUB_API_KEY). Flags go
after the subcommand's arguments or before them. See docs/devices.md.
`

// devicesFlags are the flags of `iothub devices`.
type devicesFlags struct {
	api, key, prefix, connected, certFP, enabled, cursor string
	limit                                                int
	groups, attrs                                        multiFlag
	disabled, passwordStdin, upsert                      bool
}

// multiFlag is a flag that may be repeated.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// devicesCmd implements `iothub devices …` over the HTTP API.
func devicesCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, devicesUsage)
		return exitConfig
	}
	sub := args[0]
	if sub == "help" || sub == "-h" || sub == "--help" || sub == "-help" {
		fmt.Fprint(stdout, devicesUsage)
		return 0
	}
	var f devicesFlags
	fs := flag.NewFlagSet("devices "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, devicesUsage) }
	fs.StringVar(&f.api, "api", envOr("IOTHUB_API_URL", "http://localhost:18083"), "the hub's HTTP API")
	fs.StringVar(&f.key, "key", os.Getenv("IOTHUB_API_KEY"), "API key (prefer IOTHUB_API_KEY)")
	fs.StringVar(&f.prefix, "prefix", "", "list: ids starting with")
	fs.StringVar(&f.connected, "connected", "", "list: true or false")
	fs.IntVar(&f.limit, "limit", 100, "list: page size")
	fs.StringVar(&f.cursor, "cursor", "", "list: the page after meta.next_cursor of the previous one")
	fs.Var(&f.groups, "group", "add/update: a group (repeat); list: members of the group")
	fs.Var(&f.attrs, "attr", "add/update: NAME=VALUE (repeat); list: devices with these attribute values")
	fs.BoolVar(&f.disabled, "disabled", false, "add: register the device disabled")
	fs.StringVar(&f.enabled, "enabled", "", "update: true or false; list: only enabled or disabled devices")
	fs.BoolVar(&f.passwordStdin, "password-stdin", false, "add/update: read the device's MQTT password from stdin")
	fs.StringVar(&f.certFP, "cert-fingerprint", "", "add/update: SHA-256 of the device's client certificate")
	fs.BoolVar(&f.upsert, "upsert", false, "import: update devices that exist")
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return exitConfig
	}
	req, err := devicesRequest(sub, pos, &f, stdin)
	if err != nil {
		fmt.Fprintf(stderr, "iothub: %v\n", err)
		return exitConfig
	}
	return doAPIRequest(req, &f, stdout, stderr)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// apiRequest is one call of the HTTP API.
type apiRequest struct {
	method, path, contentType string
	body                      []byte
}

// devicesRequest builds the API call of a subcommand.
func devicesRequest(sub string, pos []string, f *devicesFlags, stdin io.Reader) (apiRequest, error) {
	one := func() (string, error) {
		if len(pos) != 1 {
			return "", fmt.Errorf("devices %s: want one argument\n%s", sub, devicesUsage)
		}
		return url.PathEscape(pos[0]), nil
	}
	switch sub {
	case "list":
		q, err := listQuery(f)
		return apiRequest{method: http.MethodGet, path: "/api/v1/devices?" + q}, err
	case "get", "remove":
		id, err := one()
		method := map[string]string{"get": http.MethodGet, "remove": http.MethodDelete}[sub]
		return apiRequest{method: method, path: "/api/v1/devices/" + id}, err
	case "add", "update":
		id, err := one()
		if err != nil {
			return apiRequest{}, err
		}
		body, err := deviceSpecJSON(sub, pos[0], f, stdin)
		method, path := http.MethodPost, "/api/v1/devices"
		if sub == "update" {
			method, path = http.MethodPatch, "/api/v1/devices/"+id
		}
		return apiRequest{method: method, path: path, body: body, contentType: "application/json"}, err
	case "import":
		return importRequest(pos, f)
	}
	return apiRequest{}, fmt.Errorf("unknown devices command %q\n%s", sub, devicesUsage)
}

// listQuery is the query of GET /api/v1/devices for the list flags.
func listQuery(f *devicesFlags) (string, error) {
	q := url.Values{}
	q.Set("limit", fmt.Sprint(f.limit))
	for k, v := range map[string]string{"prefix": f.prefix, "connected": f.connected, "enabled": f.enabled, "cursor": f.cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(f.groups) > 1 {
		return "", fmt.Errorf("devices list: one --group at most")
	}
	if len(f.groups) > 0 {
		q.Set("group", f.groups[0])
	}
	for _, a := range f.attrs {
		name, value, ok := strings.Cut(a, "=")
		if !ok || name == "" {
			return "", fmt.Errorf("devices list: --attr %q: want NAME=VALUE", a)
		}
		q.Set("attr."+name, value)
	}
	return q.Encode(), nil
}

// deviceSpecJSON builds the body of add and update from the flags.
func deviceSpecJSON(sub, id string, f *devicesFlags, stdin io.Reader) ([]byte, error) {
	spec := map[string]any{}
	if sub == "add" {
		spec["id"] = id
		spec["enabled"] = !f.disabled
	}
	if f.enabled != "" {
		spec["enabled"] = f.enabled == "true"
	}
	if len(f.groups) > 0 {
		spec["groups"] = []string(f.groups)
	}
	if len(f.attrs) > 0 {
		attrs := map[string]string{}
		for _, a := range f.attrs {
			k, v, ok := strings.Cut(a, "=")
			if !ok {
				return nil, fmt.Errorf("--attr %q: want NAME=VALUE", a)
			}
			attrs[k] = v
		}
		spec["attributes"] = attrs
	}
	if f.certFP != "" {
		spec["cert_fingerprint"] = f.certFP
	}
	if f.passwordStdin {
		pw, err := readPassword(stdin)
		if err != nil {
			return nil, err
		}
		spec["password"] = pw
	}
	return json.Marshal(spec)
}

// importRequest reads the import file; its extension gives the format.
func importRequest(pos []string, f *devicesFlags) (apiRequest, error) {
	if len(pos) != 1 {
		return apiRequest{}, fmt.Errorf("devices import: want one FILE\n%s", devicesUsage)
	}
	body, err := os.ReadFile(pos[0])
	if err != nil {
		return apiRequest{}, fmt.Errorf("devices import: %w", err)
	}
	format, ctype := "jsonl", "application/x-ndjson"
	if strings.EqualFold(filepath.Ext(pos[0]), ".csv") {
		format, ctype = "csv", "text/csv"
	}
	return apiRequest{method: http.MethodPost, path: fmt.Sprintf("/api/v1/devices/import?format=%s&upsert=%t", format, f.upsert),
		body: body, contentType: ctype}, nil
}

// doAPIRequest sends req and prints the answer; a refusal prints the
// API's message and exits 1.
func doAPIRequest(req apiRequest, f *devicesFlags, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, req.method, strings.TrimRight(f.api, "/")+req.path, bytes.NewReader(req.body))
	if err != nil {
		fmt.Fprintf(stderr, "iothub: %v\n", err)
		return exitConfig
	}
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	if f.key != "" {
		hr.Header.Set("Authorization", "Bearer "+f.key)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		fmt.Fprintf(stderr, "iothub: %v\n", err)
		return exitFail
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintf(stderr, "iothub: %v\n", err)
		return exitFail
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, body, "", "  ") == nil {
		body = append(pretty.Bytes(), '\n')
	}
	if resp.StatusCode >= 300 {
		fmt.Fprintf(stderr, "iothub: %s: %s", resp.Status, body)
		return exitFail
	}
	_, _ = stdout.Write(body)
	return exitOK
}
