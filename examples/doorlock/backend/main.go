// Command backend is the phone app's backend: it sends one signed command
// (lock or unlock) to a lock through the hub's HTTP API and prints, as one
// JSON line, the command and the hub's answer: "acked" (the lock
// acknowledged it), "queued" (the lock is offline; its persistent session
// holds the command until it reconnects), or why not.
//
//	export IOTHUB_API_KEY=… LOCK_SECRET=…
//	backend --api http://127.0.0.1:18083 unlock 10083618796833171
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/iothub-dev/iothub/examples/doorlock/lock"
)

func main() {
	api := flag.String("api", "http://127.0.0.1:18083", "the hub's HTTP API")
	key := flag.String("key", os.Getenv("IOTHUB_API_KEY"), "API key (env IOTHUB_API_KEY)")
	secret := flag.String("secret", os.Getenv("LOCK_SECRET"), "secret the locks' keys derive from (env LOCK_SECRET)")
	timeout := flag.Duration("timeout", 10*time.Second, "how long to wait for the lock's acknowledgement")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: backend [flags] lock|unlock LOCK_ID")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 || *key == "" || *secret == "" {
		flag.Usage()
		os.Exit(2)
	}
	action, id := flag.Arg(0), flag.Arg(1)
	cmd, err := lock.NewCommand(lock.Key(*secret, id), action, time.Now())
	if err == nil {
		err = send(*api, *key, id, cmd, *timeout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

// send posts the command and prints {"lock","command","answer"}; an
// answer other than acked or queued is an error.
func send(api, key, id string, cmd lock.Command, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout+5*time.Second)
	defer cancel()
	status, raw, err := lock.Post(ctx, api+"/api/v1/devices/"+id+"/commands", key,
		map[string]any{"payload": cmd, "qos": 1, "wait": "acked", "timeout": timeout.String()})
	if err != nil {
		return err
	}
	var answer struct {
		Status    string  `json:"status"`
		Code      string  `json:"code"`
		Message   string  `json:"message"`
		LatencyMS float64 `json:"latency_ms"`
	}
	if err := json.Unmarshal(raw, &answer); err != nil {
		return fmt.Errorf("HTTP %d: %s", status, raw)
	}
	out, _ := json.Marshal(map[string]any{"lock": id, "command": cmd, "answer": answer})
	fmt.Fprintf(os.Stdout, "%s\n", out)
	if answer.Status != "acked" && answer.Status != "queued" {
		return fmt.Errorf("%s: HTTP %d %s %s", id, status, answer.Status, answer.Message)
	}
	return nil
}
