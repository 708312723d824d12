package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/broker"
)

// Version is the hub's version, set at build time with
// -ldflags "-X github.com/iothub-dev/iothub/internal/app.Version=v1.2.3".
var Version = "dev"

// Exit statuses.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

const usage = `iothub — an MQTT 3.1.1/5.0 hub with rules and bridges

Usage:
  iothub serve [flags]          run the hub (iothub serve --help lists flags and variables)
  iothub config check FILE      validate FILE and print the effective configuration
  iothub config example         print a complete example configuration
  iothub bench conn|pub|sub|simulate [flags]
                                load generator (any MQTT broker; loopback only)
  iothub apikey create|list|revoke
                                manage the HTTP API's keys (docs/http-api.md)
  iothub users add|remove|list|hash
                                manage MQTT users (docs/security.md)
  iothub devices list|get|add|update|remove|import
                                manage the device registry over the API (docs/devices.md)
  iothub version                print the version
`

// Main runs the command line and returns the process exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	version := func(_ []string, stdout, _ io.Writer) int {
		fmt.Fprintf(stdout, "iothub %s (%s)\n", Version, goVersion())
		return exitOK
	}
	return dispatch(args, stdout, stderr, usage, "iothub: unknown command", map[string]command{
		"serve":   serve,
		"config":  configCmd,
		"bench":   benchCmd,
		"users":   func(args []string, stdout, stderr io.Writer) int { return usersCmd(args, os.Stdin, stdout, stderr) }, // userscmd.go
		"apikey":  apikeyCmd,
		"devices": func(args []string, stdout, stderr io.Writer) int { return devicesCmd(args, os.Stdin, stdout, stderr) }, // devicescmd.go
		"version": version, "--version": version, "-v": version,
	})
}

// command is a subcommand: it gets the arguments after its name and
// returns the exit status.
type command func(args []string, stdout, stderr io.Writer) int

// dispatch runs the command of cmds that args[0] names. No arguments, or
// an unknown name, print usage to stderr (after "unknown: NAME" for the
// latter); help, --help and -h print it to stdout.
func dispatch(args []string, stdout, stderr io.Writer, usage, unknown string, cmds map[string]command) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitConfig
	}
	if run, ok := cmds[args[0]]; ok {
		return run(args[1:], stdout, stderr)
	}
	switch args[0] {
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "%s %q\n\n%s", unknown, args[0], usage)
	return exitConfig
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "unknown go"
}

// serveFlags are the common settings that have a flag; each maps to a config
// key (flag > environment > file > default).
var serveFlags = []struct{ flag, key, help string }{
	{"mqtt-addr", "listeners.tcp.0.address", "MQTT TCP listen address"},
	{"ws-addr", "listeners.ws.0.address", "MQTT over WebSocket listen address"},
	{"api-addr", "api.address", "HTTP API listen address"},
	{"api-key", "api.key", "bootstrap HTTP API key (prefer IOTHUB_API_KEY: flags show in ps)"},
	{"data-dir", "data_dir", "directory for the hub's data"},
	{"node-name", "node.name", "this hub node's name"},
	{"cluster-addr", "cluster.address", "node-to-node listen address (empty: single node)"},
	{"cluster-seeds", "cluster.seeds", "comma-separated cluster addresses of nodes to join"},
	{"log-level", "log.level", "debug, info, warn or error"},
	{"log-format", "log.format", "text or json"},
}

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", os.Getenv("IOTHUB_CONFIG"), "config file (YAML); env IOTHUB_CONFIG")
	values := make(map[string]*string, len(serveFlags))
	for _, f := range serveFlags {
		values[f.flag] = fs.String(f.flag, "", f.help+" (config key "+f.key+")")
	}
	fs.Usage = func() { serveUsage(fs, stderr) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	warnUnknownEnv(stderr)
	cfg, err := loadConfig(*cfgPath, fs, values)
	if err != nil {
		fmt.Fprintf(stderr, "iothub: %v\n", err)
		return exitConfig
	}
	return run(cfg, func() (config.Config, error) { return loadConfig(*cfgPath, fs, values) }, stderr)
}

// loadConfig loads file and environment, then applies the flags that were
// set on the command line.
func loadConfig(path string, fs *flag.FlagSet, values map[string]*string) (config.Config, error) {
	cfg, err := config.Load(path, os.Environ())
	if err != nil {
		return cfg, err
	}
	var errs []error
	fs.Visit(func(f *flag.Flag) {
		for _, sf := range serveFlags {
			if sf.flag == f.Name {
				if err := cfg.Set(sf.key, *values[f.Name]); err != nil {
					errs = append(errs, fmt.Errorf("--%s: %w", f.Name, err))
				}
			}
		}
	})
	if len(errs) == 0 {
		errs = append(errs, cfg.Validate())
	}
	return cfg, errors.Join(errs...)
}

func serveUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, "Usage: iothub serve [flags]\n\nRuns the hub. With no config file it runs on the embedded defaults.\nPrecedence: flag > environment variable > config file > default.\n\nFlags:\n")
	fs.PrintDefaults()
	fmt.Fprint(w, "\nEnvironment variables (one per config key):\n")
	for _, v := range config.EnvVars() {
		fmt.Fprintf(w, "  %-52s %s (default %q)\n", v.Name, v.Key, v.Default)
	}
}

// run starts the hub and blocks until SIGINT/SIGTERM or a fatal error;
// SIGHUP reloads the configuration with reload (reload.go).
func run(cfg config.Config, reload func() (config.Config, error), stderr io.Writer) int {
	log, level := newLogger(cfg, stderr)
	logWarnings(log, cfg)
	raiseFileLimit(log)
	if cfg.MQTT.MaxConnections == 0 {
		log.Info("MQTT connections capped by the open-files limit (mqtt.max_connections: 0)", "max_connections", maxConnections(0))
	}
	broker.Version = Version
	a, err := New(cfg, log)
	if err != nil {
		log.Error("cannot build the hub", "error", err)
		return exitConfig
	}
	a.UseLevelVar(level)
	if err := a.Start(); err != nil {
		log.Error("cannot start the hub", "error", err)
		return exitFail
	}
	log.Info("iothub started", "version", Version, "node", cfg.Node.Name)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	status := a.waitForStop(sigs, reload)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		log.Warn("shutdown incomplete", "error", err)
	}
	log.Info("iothub stopped")
	return status
}

// newLogger builds the process logger from the log section; the level can
// be changed later through the returned LevelVar.
func newLogger(cfg config.Config, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), level
	}
	return slog.New(slog.NewTextHandler(w, opts)), level
}

// configCmd implements `iothub config check FILE` and `iothub config example`.
func configCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitConfig
	}
	switch args[0] {
	case "example":
		_, _ = stdout.Write(config.Example())
		return exitOK
	case "check":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: iothub config check FILE")
			return exitConfig
		}
		warnUnknownEnv(stderr)
		cfg, err := config.Load(args[1], os.Environ())
		for _, w := range cfg.Warnings {
			fmt.Fprintf(stderr, "iothub: warning: %v\n", w)
		}
		if err != nil {
			fmt.Fprintf(stderr, "iothub: %v\n", err)
		}
		// what serve builds (rules, bridges, security), in the same pass:
		// of a file with errors, as far as it decoded (not YAML: nothing)
		var zero config.Config
		if !reflect.DeepEqual(cfg, zero) {
			if cerr := Check(cfg); cerr != nil {
				fmt.Fprintf(stderr, "iothub: %v\n", cerr)
				err = errors.Join(err, cerr)
			}
		}
		if err != nil {
			return exitConfig
		}
		out, err := cfg.YAML()
		if err != nil {
			fmt.Fprintf(stderr, "iothub: %v\n", err)
			return exitFail
		}
		_, _ = stdout.Write(out)
		return exitOK
	}
	fmt.Fprintf(stderr, "iothub: unknown config command %q\n", args[0])
	return exitConfig
}

// warnUnknownEnv warns about IOTHUB_ variables that name no configuration
// key (a misspelt one would otherwise be ignored silently).
func warnUnknownEnv(stderr io.Writer) {
	for _, name := range config.UnknownEnv(os.Environ()) {
		if name == "IOTHUB_CONFIG" || strings.HasPrefix(name, "IOTHUB_TEST_") || strings.HasPrefix(name, "IOTHUB_BENCH_") {
			continue // read by the command line and the tests themselves
		}
		fmt.Fprintf(stderr, "iothub: warning: environment variable %s names no configuration key (iothub serve --help lists them)\n", name)
	}
}

// logWarnings logs what Load accepted with a warning (deprecated keys).
func logWarnings(log *slog.Logger, cfg config.Config) {
	for _, w := range cfg.Warnings {
		log.Warn("configuration: deprecated key", "warning", w.Error())
	}
}
