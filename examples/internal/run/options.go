package run

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Options are the flags every demo has.
type Options struct {
	// Kafka is a Kafka to use instead of kfake ("": kfake).
	Kafka string
	// Bin is where the binaries are ("": the running program's directory).
	Bin string
	// Keep keeps the run's directory.
	Keep bool
	// Wait bounds each expectation of the script.
	Wait time.Duration
}

// Register adds --kafka, --bin, --keep and --wait to fs.
func (o *Options) Register(fs *flag.FlagSet, wait time.Duration) {
	fs.StringVar(&o.Kafka, "kafka", "", "a Kafka to use (host:port) instead of starting kfake")
	fs.StringVar(&o.Bin, "bin", "", "directory of iothub and the example programs (default: this program's)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the run's directory: configs, logs, data")
	fs.DurationVar(&o.Wait, "wait", wait, "how long to wait for each expected event")
}

// Open starts a run: its directory, Kafka with topics (none: no Kafka),
// and a Script printing to out. Close the Runner when done (it stops Kafka
// too).
func Open(name string, o Options, out io.Writer, partitions int32, topics ...string) (*Runner, *Script, error) {
	r, err := New(name)
	if err != nil {
		return nil, nil, err
	}
	r.Keep = o.Keep
	if o.Bin != "" {
		r.Bin = o.Bin
	}
	if len(topics) > 0 {
		if r.Kafka, err = StartKafka(o.Kafka, partitions, topics...); err != nil {
			r.Close()
			return nil, nil, err
		}
	}
	return r, &Script{Out: out, Events: &r.Events, Wait: o.Wait}, nil
}

// Main runs play with a context that SIGINT and SIGTERM cancel, and exits
// with its code (after play's deferred cleanups ran).
func Main(play func(context.Context) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := play(ctx)
	stop()
	os.Exit(code)
}
