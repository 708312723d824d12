package run

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Runner starts the programs of one demo run and stops them.
type Runner struct {
	// Dir holds the run's logs, configs and data; removed by Close unless
	// Keep is set.
	Dir  string
	Keep bool
	// Bin is the directory of the binaries (iothub and the example
	// programs): by default the directory of the running program, where
	// `go build -o DIR/ ./cmd/iothub ./examples/...` puts them all.
	Bin string
	// Events are the JSON lines the programs printed.
	Events Events
	// Kafka is the run's Kafka (Open), stopped by Close.
	Kafka *Kafka

	name  string     // the demo's, for messages
	mu    sync.Mutex // guards procs: programs may be started concurrently
	procs []*Proc
}

// New returns a Runner with a fresh directory under the system's
// temporary directory.
func New(name string) (*Runner, error) {
	dir, err := os.MkdirTemp("", "iothub-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	return &Runner{Dir: dir, Bin: filepath.Dir(exe), name: name}, nil
}

// SetupFailed tells why the run could not be set up and where its logs
// are, and returns the exit code 1.
func (r *Runner) SetupFailed(err error) int {
	fmt.Fprintf(os.Stderr, "%s: %v (logs in %s; --keep keeps them)\n", r.name, err, r.Dir)
	return 1
}

// Proc is a running program.
type Proc struct {
	Name string
	// Stdin writes to the program's standard input.
	Stdin io.WriteCloser
	// Log is the file its stderr (and stdout lines that are not JSON) go to.
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Done is closed when the program has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is how the program exited (after Done).
func (p *Proc) Err() error { return p.err }

// Pid is the program's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Start runs program (a name in Bin, or a path) with args and extra
// environment variables. Each JSON line it prints on stdout becomes an
// Event from name.
func (r *Runner) Start(name, program string, args []string, env ...string) (*Proc, error) {
	if !filepath.IsAbs(program) {
		program = filepath.Join(r.Bin, program)
	}
	p := &Proc{Name: name, Log: filepath.Join(r.Dir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(p.Log)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	p.cmd = exec.Command(program, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = logf
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("run: %w", err), logf.Close())
	}
	if p.Stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, errors.Join(fmt.Errorf("run: %w", err), logf.Close())
	}
	if err := p.cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("run: start %s: %w", name, err), logf.Close())
	}
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	go func() {
		r.scan(name, out, logf)
		p.err = p.cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	return p, nil
}

// scan turns the JSON lines of out into events and copies the others to
// the log.
func (r *Runner) scan(name string, out io.Reader, log io.Writer) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e Event
		if json.Unmarshal(sc.Bytes(), &e) != nil || e == nil {
			fmt.Fprintf(log, "%s\n", sc.Bytes())
			continue
		}
		e["from"] = name
		r.Events.Add(e)
	}
}

// Run runs program (a name in Bin) to its end, with args and extra
// environment variables, and returns its stdout; the error says how it
// failed, with its stderr.
func (r *Runner) Run(ctx context.Context, program string, args []string, env ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(r.Bin, program), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("run: %s: %w: %s", program, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// Stop ends one program: SIGTERM, then SIGKILL after grace.
func (p *Proc) Stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Close stops every program still running, last started first, and
// removes Dir unless Keep is set.
func (r *Runner) Close() {
	r.mu.Lock()
	procs := r.procs
	r.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(15 * time.Second)
	}
	if r.Kafka != nil {
		r.Kafka.Close()
	}
	if !r.Keep {
		_ = os.RemoveAll(r.Dir)
	}
}

// FreeAddr returns a loopback address with a free TCP port.
func FreeAddr() (string, error) { return FreeAddrOn("127.0.0.1") }

// FreeAddrOn returns host (an address of this machine, such as 127.0.0.2)
// with a free TCP port.
func FreeAddrOn(host string) (string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("run: free port: %w", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}
