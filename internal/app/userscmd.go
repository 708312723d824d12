package app

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/iothub-dev/iothub/auth"

	"github.com/iothub-dev/iothub/auth/users"
	"github.com/iothub-dev/iothub/config"
)

const usersUsage = `Usage:
  iothub users add [--superuser] [--client-id PATTERN]... NAME
                                        add or replace a user; the password is read from stdin;
                                        --client-id (repeatable) binds it to client ids
                                        ("%u": its own name, "lock-*")
  iothub users add --dashboard [--viewer] NAME
                                        add or replace a dashboard user; --viewer makes it
                                        read-only (it sees everything, changes nothing)
  iothub users remove NAME              remove a user
  iothub users list                     list users (config file users are marked)
  iothub users hash                     print a bcrypt hash of the password read from stdin,
                                        for auth.users.static in the config file
Flags (before NAME): --config FILE (env IOTHUB_CONFIG), --data-dir DIR,
  --dashboard (the web dashboard's users instead of MQTT users).
The users live in auth.users.file (default DATA_DIR/users.json); dashboard
users in DATA_DIR/dashboard_users.json. A running hub notices changes within
a second.
`

// usersCmd implements `iothub users add|remove|list|hash`.
func usersCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usersUsage)
		return exitConfig
	}
	sub := args[0]
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", os.Getenv("IOTHUB_CONFIG"), "config file (YAML)")
	dataDir := fs.String("data-dir", "", "data directory (config key data_dir)")
	superuser := fs.Bool("superuser", false, "the user skips the ACL (add)")
	var clientIDs auth.ClientIDPatterns
	fs.Func("client-id", "a client id the user may connect with, %u its name, * any run (add; repeatable)", func(p string) error {
		clientIDs = append(clientIDs, p)
		return clientIDs.Validate()
	})
	dashboard := fs.Bool("dashboard", false, "manage the web dashboard's users")
	viewer := fs.Bool("viewer", false, "a read-only dashboard user (add --dashboard)")
	fs.Usage = func() { fmt.Fprint(stderr, usersUsage) }
	if err := fs.Parse(args[1:]); err != nil {
		return exitConfig
	}
	if *viewer && !*dashboard {
		fmt.Fprintln(stderr, "iothub: --viewer is a dashboard role: use it with --dashboard")
		return exitConfig
	}
	if *dashboard && (*superuser || len(clientIDs) > 0) {
		fmt.Fprintln(stderr, "iothub: --superuser and --client-id are for MQTT users: a dashboard user is an administrator or a --viewer")
		return exitConfig
	}
	if sub == "hash" {
		return usersHash(stdin, stdout, stderr)
	}
	cfg, err := config.Load(*cfgPath, os.Environ())
	if err == nil && *dataDir != "" {
		err = cfg.Set("data_dir", *dataDir)
	}
	if err != nil {
		fmt.Fprintf(stderr, "iothub: %v\n", err)
		return exitConfig
	}
	open := openUsers
	if *dashboard {
		open = func(cfg config.Config) (*users.Store, error) {
			return openOperators(cfg.DataDir, cfg.Auth.Users.BcryptCost)
		}
	}
	store, err := open(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "iothub: %v\n", err)
		return exitFail
	}
	f := userFlags{superuser: *superuser, clientIDs: clientIDs, dashboard: *dashboard}
	if *viewer {
		f.role = users.RoleViewer
	}
	return runUsers(store, sub, fs.Args(), f, stdin, stdout, stderr)
}

// userFlags are the flags of `iothub users add`.
type userFlags struct {
	superuser bool
	clientIDs auth.ClientIDPatterns
	role      string // dashboard users: users.RoleViewer or ""
	dashboard bool   // the store holds dashboard users
}

// runUsers runs one subcommand on store.
func runUsers(store *users.Store, sub string, args []string, f userFlags, stdin io.Reader, stdout, stderr io.Writer) int {
	switch {
	case sub == "list" && len(args) == 0:
		for _, u := range store.List() {
			if f.dashboard { // a dashboard user has a role, nothing else
				fmt.Fprintln(stdout, u.Username+"\t"+dashboardRole(u.Role))
				continue
			}
			line := u.Username
			if u.Superuser {
				line += "\tsuperuser"
			}
			if u.Role != "" {
				line += "\t" + u.Role
			}
			if len(u.ClientIDs) > 0 {
				line += "\tclient ids " + strings.Join(u.ClientIDs, ",")
			}
			if store.IsStatic(u.Username) {
				line += "\t(config file)"
			}
			fmt.Fprintln(stdout, line)
		}
		return exitOK
	case sub == "add" && len(args) == 1:
		pw, err := readPassword(stdin)
		if err == nil {
			err = store.Put(users.User{Username: args[0], Superuser: f.superuser, ClientIDs: f.clientIDs, Role: f.role}, pw)
		}
		return usersReport(err, stdout, stderr, "user "+args[0]+" saved")
	case sub == "remove" && len(args) == 1:
		return usersReport(store.Remove(args[0]), stdout, stderr, "user "+args[0]+" removed")
	}
	fmt.Fprint(stderr, usersUsage)
	return exitConfig
}

// dashboardRole names a dashboard user's role as the Security page does.
func dashboardRole(role string) string {
	if role == "" {
		return "administrator"
	}
	return role
}

func usersReport(err error, stdout, stderr io.Writer, ok string) int {
	if err != nil {
		fmt.Fprintf(stderr, "iothub: %v\n", err)
		if errors.Is(err, users.ErrNotFound) || errors.Is(err, users.ErrReadOnly) || errors.Is(err, users.ErrInvalid) {
			return exitConfig
		}
		return exitFail
	}
	fmt.Fprintln(stdout, ok)
	return exitOK
}

// readPassword reads the first line of r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("%w: empty password on stdin", users.ErrInvalid)
	}
	return pw, nil
}

func usersHash(stdin io.Reader, stdout, stderr io.Writer) int {
	pw, err := readPassword(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "iothub: %v\n", err)
		return exitConfig
	}
	h, err := users.HashPassword(pw, 0)
	if err != nil {
		fmt.Fprintf(stderr, "iothub: %v\n", err)
		return exitFail
	}
	fmt.Fprintln(stdout, h)
	return exitOK
}
