// Package config is iothub's typed configuration: the Config struct, its
// defaults, a strict YAML loader, environment overrides, validation, and
// the helpers the command line and reload need. Of iothub it imports only
// the bridge registry (package bridge): a bridge entry holds the common
// keys and the keys of its type, whose settings struct the type's package
// registers (bridge.RegisterType) and decodes into strictly like the rest
// of the file. internal/app turns a Config into component options.
//
// # File format
//
// One YAML document (gopkg.in/yaml.v3). Every key is optional and keeps its
// default when missing; Example returns a complete commented file, also in
// the repository as iothub.example.yaml. Decoding is strict: an unknown
// key, a duplicate key or a value of the wrong type is an error naming the
// key path and line, for example
//
//	config iothub.yaml:12: unknown key "mqtt.max_inflght" (did you mean "max_inflight"?)
//	config iothub.yaml:7: mqtt.connect_timeout: invalid duration "10" (want a Go duration such as "10s" or "168h")
//
// Durations are Go duration strings ("10s", "168h"; a bare 0 is accepted).
// Listeners come in four lists (listeners.tcp, ws, tls, wss); a list given
// in the file replaces the default list, and each entry starts from
// DefaultTCPListener (and the like), so only what differs needs writing.
// An unnamed listener is named after its list: "tcp", "tcp-1", … Relative
// paths (data_dir, certificate files) are relative to the working
// directory, not to the file.
//
// # Precedence
//
// flag > environment > file > default. Load applies the defaults, the file
// and the environment, then validates; the caller applies flags after Load
// with Set (by key path) and calls Validate again:
//
//	cfg, err := config.Load(path, os.Environ())
//	…
//	if err := cfg.Set("mqtt.max_inflight", v); err != nil { … }
//	if err := cfg.Validate(); err != nil { … }
//
// # Environment variables
//
// Every scalar key has a variable: IOTHUB_ followed by the key path in upper
// case with dots turned into underscores (EnvName): node.name is
// IOTHUB_NODE_NAME, data_dir is IOTHUB_DATA_DIR, mqtt.max_inflight is
// IOTHUB_MQTT_MAX_INFLIGHT. Lists of strings take comma-separated values
// (IOTHUB_LISTENERS_WS_0_ALLOWED_ORIGINS=https://a.example,https://b.example).
// A list of listeners is overridable for its first entry only, index 0:
// IOTHUB_LISTENERS_TCP_0_ADDRESS=:1884; if that list is empty (tls and wss by
// default) the variable creates the entry, so IOTHUB_LISTENERS_TLS_0_CERT_FILE
// and IOTHUB_LISTENERS_TLS_0_KEY_FILE alone enable TLS on :8883. Further
// entries, and removing a default listener, need the file. A variable set
// to the empty string sets the empty value. EnvVars lists every variable
// with its default and description for --help. Variables that name no key
// are ignored, because Kubernetes defines IOTHUB_SERVICE_HOST, IOTHUB_PORT
// and the like for a Service called iothub; UnknownEnv lists the others so
// that the caller can warn about typos.
//
// # Validation
//
// Validate checks everything and returns every problem, joined with
// errors.Join; each is a *KeyError with the key path, and, when it came
// through Load, the file and line or the variable that set the value.
// Errors unwrap to ErrSyntax, ErrUnknownKey, ErrBadValue or ErrInvalid.
// What loads but should be told (a deprecated key) is in Config.Warnings,
// unwrapping to ErrDeprecated.
//
// # Reload
//
// A Config is a plain value: nothing in this package watches files or holds
// state. To reload (SIGHUP, or the API), the caller Loads again, re-applies
// its flags, validates, and on success swaps the new Config in; on failure
// it keeps the old one. Diff(old, new) returns the key paths that changed,
// for the log line and for deciding what to restart.
//
// # Concurrency
//
// Functions are safe for concurrent use; a Config is not safe to mutate
// (Set) while others read it.
package config
