// Package tools pins the versions of the developer tools that `make test`
// runs (golangci-lint), in a module of their own so that their dependencies
// never mix with the hub's. `make lint` builds them into bin/.
package tools
