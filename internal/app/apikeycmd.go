package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/api"
)

const apikeyUsage = `Usage:
  iothub apikey create [--name NAME] [--viewer] [flags]
                                               create a key and print it (only this once);
                                               --viewer: a read-only key (GETs and the testers)
  iothub apikey list [flags]                   list the keys (ids, names, dates; never the keys)
  iothub apikey revoke ID [flags]              delete a key: requests with it get 401 at once

Flags:
  --data-dir DIR    the hub's data directory (default: data_dir of the config)
  --config FILE     config file to read data_dir from (env IOTHUB_CONFIG)

Keys are stored as SHA-256 hashes in <data_dir>/apikeys.json; a running hub
picks up changes on its next request.
`

// apikeyCmd implements `iothub apikey create|list|revoke`.
func apikeyCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, apikeyUsage)
		return exitConfig
	}
	sub := args[0]
	fs := flag.NewFlagSet("apikey "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, apikeyUsage) }
	dataDir := fs.String("data-dir", "", "the hub's data directory")
	cfgPath := fs.String("config", os.Getenv("IOTHUB_CONFIG"), "config file")
	name := fs.String("name", "", "a name for the key (create)")
	viewer := fs.Bool("viewer", false, "a read-only key (create)")
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	keys, err := openKeys(*dataDir, *cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "iothub: %v\n", err)
		return exitConfig
	}
	switch sub {
	case "create":
		role := ""
		if *viewer {
			role = api.RoleViewer
		}
		return apikeyCreate(keys, *name, role, stdout, stderr)
	case "list":
		return apikeyList(keys, stdout)
	case "revoke":
		if len(positional) != 1 {
			fmt.Fprint(stderr, "usage: iothub apikey revoke ID\n")
			return exitConfig
		}
		if err := keys.Revoke(positional[0]); err != nil {
			fmt.Fprintf(stderr, "iothub: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "Revoked API key %s.\n", positional[0])
		return exitOK
	}
	fmt.Fprintf(stderr, "iothub: unknown apikey command %q\n\n%s", sub, apikeyUsage)
	return exitConfig
}

// parseInterspersed parses flags that may come before or after the
// positional arguments (`revoke ID --data-dir DIR`) and returns the latter.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// openKeys opens the key store of dataDir, or of the configuration's
// data_dir (file and environment, as `iothub serve` reads them).
func openKeys(dataDir, cfgPath string) (*api.KeyStore, error) {
	if dataDir == "" {
		cfg, err := config.Load(cfgPath, os.Environ())
		if err != nil {
			return nil, err
		}
		dataDir = cfg.DataDir
	}
	return api.OpenKeyStore(filepath.Join(dataDir, api.KeyFile))
}

func apikeyCreate(keys *api.KeyStore, name, role string, stdout, stderr io.Writer) int {
	key, info, err := keys.CreateWithRole(name, role)
	if err != nil {
		fmt.Fprintf(stderr, "iothub: %v\n", err)
		return exitFail
	}
	fmt.Fprintf(stderr, "Created API key %s in %s. It is shown only this once; send it as \"Authorization: Bearer <key>\":\n", info.ID, keys.Path())
	fmt.Fprintln(stdout, key)
	return exitOK
}

func apikeyList(keys *api.KeyStore, stdout io.Writer) int {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tCREATED\tROLE")
	for _, k := range keys.List() {
		role := k.Role
		if role == "" {
			role = "all"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.ID, k.Name, k.CreatedAt.Format(time.RFC3339), role)
	}
	_ = tw.Flush()
	return exitOK
}
