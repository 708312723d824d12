package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/iothub-dev/iothub/bench"
	"github.com/iothub-dev/iothub/mqtt/packet"
)

const benchUsage = `Usage: iothub bench conn [flags]

Load generator; works against any MQTT broker. Send traffic to loopback or
your own test hosts only.

  conn   open N connections at a rate and hold them
`

// benchCmd implements `iothub bench`.
func benchCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchUsage)
		return exitConfig
	}
	switch args[0] {
	case "conn":
		return benchConn(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "iothub bench: unknown benchmark %q\n\n%s", args[0], benchUsage)
	return exitConfig
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
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	if *ifaddr != "" {
		addrs, err := bench.ParseAddrRange(*ifaddr)
		if err != nil {
			fmt.Fprintf(stderr, "iothub bench conn: --ifaddr: %v\n", err)
			return exitConfig
		}
		o.SourceAddrs = addrs
	}
	o.Version = packet.V311
	if *v5 {
		o.Version = packet.V5
	}
	o.Progress = stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.RunConn(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "iothub bench conn: %v\n", err)
		return exitConfig
	}
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(res)
	} else {
		fmt.Fprintf(stdout, "connected %d, failed %d, in %.2fs: %.0f connections/s\n", res.Connected, res.Failed, res.Elapsed.Seconds(), res.RatePerSec)
		for _, e := range res.FirstErrors {
			fmt.Fprintf(stdout, "  error: %s\n", e)
		}
	}
	if res.Failed > 0 {
		return exitFail
	}
	return exitOK
}
