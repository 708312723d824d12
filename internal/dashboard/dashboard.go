package dashboard

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
)

//go:embed ui
var files embed.FS

// CSP is the Content-Security-Policy of every answer of Handler.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Pages returns the names of the page modules (ui/pages/*.js), sorted.
func Pages() []string {
	entries, _ := fs.ReadDir(files, "ui/pages") // embedded: cannot fail
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".js"); ok && !e.IsDir() {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Handler serves the dashboard: / and /ui/…; anything else is 404. Mount
// it on "GET /{$}" and "GET /ui/{file...}".
func Handler() http.Handler {
	sub, _ := fs.Sub(files, "ui") // embedded: cannot fail
	static := http.StripPrefix("/ui/", http.FileServerFS(sub))
	pages, _ := json.Marshal(Pages())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache") // revalidate: a new binary brings new files
		switch p := r.URL.Path; {
		case p == "/":
			http.ServeFileFS(w, r, sub, "index.html")
		case p == "/ui/pages.json":
			h.Set("Content-Type", "application/json")
			_, _ = w.Write(pages)
		case strings.HasPrefix(p, "/ui/") && path.Ext(p) != "" && !strings.HasSuffix(p, "/"):
			static.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}
