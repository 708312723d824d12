// Package dashboard serves the web dashboard (docs/dashboard.md): plain
// HTML, CSS and JavaScript modules in ui/, embedded in the binary (an
// embed directive), so nothing is needed at run time and nothing is
// fetched from another origin.
//
// # What it serves
//
// GET / is ui/index.html; GET /ui/<file> the other files; GET
// /ui/pages.json the names of the page modules in ui/pages/, so that a
// page is one file: drop ui/pages/<name>.js in and rebuild. Every answer
// carries a strict Content-Security-Policy (scripts, styles, images and
// connections from this origin only; no inline script or style; no
// framing) and the usual hardening headers.
//
// The dashboard reads the documented /api/v1 endpoints (internal/api),
// signed in with a session cookie; this package holds no data and no
// credentials.
//
// # Concurrency
//
// The handler is stateless and safe for concurrent use.
package dashboard
