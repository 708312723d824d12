package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/iothub-dev/iothub/bench"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

const benchUsage = `Usage: iothub bench conn|pub|sub|simulate [flags]

Load generator; works against any MQTT broker. Send traffic to loopback or
your own test hosts only. Every run is bounded (--duration, --count); a
progress line goes to stderr every second, the summary to stdout (--json
for machines). --tls (with --cafile, --insecure, --cert/--key,
--servername) connects over TLS. iothub bench CMD --help lists a
command's flags.

  conn       open N connections at a rate and hold them
  pub        N clients publishing at a rate (QoS, topic template, payload)
  sub        N clients subscribing; receive rate and end-to-end latency
  simulate   doorlock|vehicles devices with realistic payloads
`

// benchCmd implements `iothub bench`.
func benchCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		raiseFileLimit(slog.New(slog.DiscardHandler))
	}
	return dispatch(args, stdout, stderr, benchUsage, "iothub bench: unknown benchmark", map[string]command{
		"conn": benchConn, "pub": benchPub, "sub": benchSub, "simulate": benchSimulate,
	})
}

// clientFlags registers the connection flags shared by pub, sub and
// simulate.
func clientFlags(fs *flag.FlagSet, o *bench.ClientOptions, prefix string) (v5 *bool) {
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:1883", "broker host:port")
	fs.StringVar(&o.ClientPrefix, "prefix", prefix, "client id prefix (client id = prefix + index)")
	fs.StringVar(&o.Username, "username", "", "username sent in CONNECT")
	fs.StringVar(&o.Password, "password", "", "password sent in CONNECT")
	fs.DurationVar(&o.KeepAlive, "keepalive", 60*time.Second, "keep alive (the clients ping at half of it)")
	fs.IntVar(&o.Inflight, "inflight", 32, "unacknowledged QoS 1/2 publishes per client")
	fs.IntVar(&o.ConnectConcurrency, "concurrency", 64, "connection attempts in flight")
	tlsFlags(fs, &o.TLS)
	o.CleanStart = true
	return fs.Bool("v5", false, "connect with MQTT 5.0 (default 3.1.1)")
}

// tlsFlags registers the TLS flags every bench command shares.
func tlsFlags(fs *flag.FlagSet, t *bench.TLSOptions) {
	fs.BoolVar(&t.Enabled, "tls", false, "connect over TLS (--addr then defaults to "+benchTLSAddr+")")
	fs.StringVar(&t.CAFile, "cafile", "", "PEM CA certificates that verify the broker (default: the system roots; needs --tls)")
	fs.BoolVar(&t.Insecure, "insecure", false, "do not verify the broker's certificate, for self-signed test brokers (needs --tls)")
	fs.StringVar(&t.CertFile, "cert", "", "PEM client certificate for mutual TLS (with --key; needs --tls)")
	fs.StringVar(&t.KeyFile, "key", "", "PEM key of --cert")
	fs.StringVar(&t.WebSocketPath, "ws", "", "speak MQTT over WebSocket at this path, e.g. /mqtt (wss:// with --tls)")
	fs.StringVar(&t.Curves, "curves", "", "key exchanges offered, comma-separated: x25519, p256, p384, p521, x25519mlkem768 (default Go's, with the post-quantum hybrid; needs --tls)")
	fs.StringVar(&t.ServerName, "servername", "", "name sent in SNI and verified in the broker's certificate (default: the host of --addr)")
}

// benchTLSAddr is --addr's default with --tls: the MQTT-over-TLS port.
const benchTLSAddr = "127.0.0.1:8883"

func benchVersion(v5 bool) packet.Version {
	if v5 {
		return packet.V5
	}
	return packet.V311
}

// parseBench parses args; done reports that the command should exit with
// status (help, or a bad flag).
func parseBench(fs *flag.FlagSet, args []string) (status int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitConfig, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "iothub %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitConfig, true
	}
	if f := fs.Lookup("tls"); f != nil && f.Value.String() == "true" && !flagSet(fs, "addr") {
		_ = fs.Set("addr", benchTLSAddr)
	}
	return 0, false
}

// benchError prints err of the command named cmd ("bench conn") once
// with its name: the bench package's errors mostly carry it already.
func benchError(stderr io.Writer, cmd string, err error) {
	msg := err.Error()
	if !strings.HasPrefix(msg, cmd+": ") {
		msg = cmd + ": " + msg
	}
	fmt.Fprintf(stderr, "iothub %s\n", msg)
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// report prints res as JSON or as text and returns the exit status.
func report(stdout io.Writer, asJSON bool, res any, text string, failed bool) int {
	if asJSON {
		_ = json.NewEncoder(stdout).Encode(res)
	} else {
		fmt.Fprintln(stdout, text)
	}
	if failed {
		return exitFail
	}
	return exitOK
}

func benchConn(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench conn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bench.ConnOptions
	fs.StringVar(&o.Addr, "addr", "127.0.0.1:1883", "broker host:port")
	fs.IntVar(&o.Count, "count", 1000, "connections to open")
	fs.IntVar(&o.Rate, "rate", 0, "connections per second (0: as fast as possible)")
	fs.DurationVar(&o.Hold, "hold", 0, "how long to hold the connections once up")
	fs.DurationVar(&o.KeepAlive, "keepalive", 0, "keep alive sent in CONNECT (clients never ping; 0: none)")
	fs.StringVar(&o.ClientPrefix, "prefix", "bench-conn-", "client id prefix")
	fs.IntVar(&o.Concurrency, "concurrency", 64, "connection attempts in flight")
	ifaddr := fs.String("ifaddr", "", "source address or range, e.g. 127.0.0.2-127.0.0.50")
	v5 := fs.Bool("v5", false, "connect with MQTT 5.0 (default 3.1.1)")
	tlsFlags(fs, &o.TLS)
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if status, done := parseBench(fs, args); done {
		return status
	}
	if *ifaddr != "" {
		addrs, err := bench.ParseAddrRange(*ifaddr)
		if err != nil {
			fmt.Fprintf(stderr, "iothub bench conn: --ifaddr: %v\n", err)
			return exitConfig
		}
		o.SourceAddrs = addrs
	}
	o.Version = benchVersion(*v5)
	o.Progress = stderr
	ctx, stop := signalContext()
	defer stop()
	res, err := bench.RunConn(ctx, o)
	if err != nil {
		benchError(stderr, "bench conn", err)
		return exitConfig
	}
	text := fmt.Sprintf("connected %d, failed %d, in %.2fs: %.0f connections/s", res.Connected, res.Failed, res.Elapsed.Seconds(), res.RatePerSec)
	for _, e := range res.FirstErrors {
		text += "\n  error: " + e
	}
	return report(stdout, *asJSON, res, text, res.Failed > 0)
}

func benchPub(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench pub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bench.PubOptions
	v5 := clientFlags(fs, &o.ClientOptions, "bench-pub-")
	fs.IntVar(&o.Clients, "clients", 10, "publishing clients")
	fs.Float64Var(&o.Rate, "rate", 10, "messages per second per client (0: as fast as the broker takes them)")
	fs.Float64Var(&o.TotalRate, "total-rate", 0, "messages per second of all clients together (overrides --rate)")
	fs.IntVar(&o.Count, "count", 0, "messages per client (0: until --duration)")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "run time (required, bounds every run)")
	qos := fs.Uint("qos", 0, "QoS 0, 1 or 2")
	fs.BoolVar(&o.Retain, "retain", false, "set the retain flag")
	fs.StringVar(&o.Topic, "topic", "bench/%i", "topic template: %i client index, %c client id")
	fs.IntVar(&o.Size, "size", 64, "payload bytes; payloads of 12 bytes or more carry the send time for bench sub")
	fs.StringVar(&o.Payload, "payload", "", "payload template instead of --size: %i %c %n (sequence) %t (ms) %r (random 0-99)")
	payloadFile := fs.String("payload-file", "", "read the payload template from this file")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if status, done := parseBench(fs, args); done {
		return status
	}
	if *payloadFile != "" {
		b, err := os.ReadFile(*payloadFile)
		if err != nil {
			fmt.Fprintf(stderr, "iothub bench pub: %v\n", err)
			return exitConfig
		}
		o.Payload = string(b)
	}
	o.QoS, o.Version, o.Progress = byte(min(*qos, 3)), benchVersion(*v5), stderr
	ctx, stop := signalContext()
	defer stop()
	res, err := bench.RunPub(ctx, o)
	if err != nil {
		benchError(stderr, "bench pub", err)
		return exitConfig
	}
	text := fmt.Sprintf("published %d messages from %d clients in %.2fs: %.0f msg/s, %d errors", res.Published, res.Clients, res.Elapsed.Seconds(), res.RatePerSec, res.Errors)
	if res.FirstError != "" {
		text += "\n  error: " + res.FirstError
	}
	return report(stdout, *asJSON, res, text, res.Errors > 0)
}

func benchSub(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench sub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bench.SubOptions
	v5 := clientFlags(fs, &o.ClientOptions, "bench-sub-")
	fs.IntVar(&o.Clients, "clients", 1, "subscribing clients")
	fs.StringVar(&o.Filter, "topic", "bench/#", "topic filter template: %i client index, %c client id")
	qos := fs.Uint("qos", 0, "subscription QoS 0, 1 or 2")
	fs.Uint64Var(&o.Count, "count", 0, "stop after this many messages in all (0: no count)")
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "longest run time (required, bounds every run)")
	fs.DurationVar(&o.Idle, "idle", 0, "stop when no message arrived for this long after the first (0: never)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if status, done := parseBench(fs, args); done {
		return status
	}
	o.QoS, o.Version, o.Progress = byte(min(*qos, 3)), benchVersion(*v5), stderr
	ctx, stop := signalContext()
	defer stop()
	res, err := bench.RunSub(ctx, o)
	if err != nil {
		benchError(stderr, "bench sub", err)
		return exitConfig
	}
	l := res.Latency
	text := fmt.Sprintf("received %d messages on %d clients in %.2fs: %.0f msg/s; latency p50 %.2fms p90 %.2fms p99 %.2fms max %.2fms (%d timed)",
		res.Received, res.Clients, res.Elapsed.Seconds(), res.RatePerSec, l.P50, l.P90, l.P99, l.Max, l.Count)
	return report(stdout, *asJSON, res, text, false)
}

// simulateUsage explains bench simulate without a scenario.
const simulateUsage = `Usage: iothub bench simulate doorlock|vehicles [flags]

Simulates a fleet of devices publishing the reference systems' messages:
  doorlock  each lock publishes devices/{id}/state (QoS 1, every 60s by default)
            and subscribes to devices/{id}/command
  vehicles  each vehicle publishes mqttx/simulate/tesla/{id} (every 1s by default)
            and subscribes to vehicles/{id}/command

Flags: iothub bench simulate doorlock --help lists them (the same for both),
e.g. --addr 127.0.0.1:1883 --devices 100 --interval 1s --duration 30s.
`

func benchSimulate(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "doorlock" && args[0] != "vehicles" {
		fmt.Fprint(stderr, simulateUsage)
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "-help") {
			return exitOK
		}
		return exitConfig
	}
	fs := flag.NewFlagSet("bench simulate "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := bench.SimOptions{Scenario: args[0]}
	v5 := clientFlags(fs, &o.ClientOptions, "")
	fs.IntVar(&o.Devices, "devices", 100, "simulated devices")
	fs.IntVar(&o.First, "first", 0, "index of the first device, to split a fleet between simulators")
	fs.DurationVar(&o.Interval, "interval", 0, "time between two messages of a device (0: 60s door locks, 1s vehicles)")
	fs.DurationVar(&o.Duration, "duration", 30*time.Second, "run time (required, bounds every run)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if status, done := parseBench(fs, args[1:]); done {
		return status
	}
	o.Version, o.Progress = benchVersion(*v5), stderr
	ctx, stop := signalContext()
	defer stop()
	res, err := bench.RunSimulate(ctx, o)
	if err != nil {
		benchError(stderr, "bench simulate", err)
		return exitConfig
	}
	text := fmt.Sprintf("%s: %d devices published %d messages in %.2fs (%.0f msg/s), received %d commands, %d errors",
		res.Scenario, res.Devices, res.Published, res.Elapsed.Seconds(), res.RatePerSec, res.Commands, res.Errors)
	if res.FirstError != "" {
		text += "\n  error: " + res.FirstError
	}
	return report(stdout, *asJSON, res, text, res.Errors > 0)
}
