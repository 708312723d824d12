// Command iothub runs the iothub MQTT hub: `iothub serve`, `iothub config`,
// `iothub version`. See README.md.
package main

import (
	"os"

	"github.com/iothub-dev/iothub/internal/app"
)

func main() {
	os.Exit(app.Main(os.Args[1:], os.Stdout, os.Stderr))
}
