// Package layering holds no code: its test checks the import rules that
// docs/design.md ("Packages") writes down, over the real dependency graph
// that `go list -deps` reports, so that a change breaking the layering fails
// `make test` instead of waiting for a reviewer to notice.
package layering
