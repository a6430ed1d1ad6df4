package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
)

// files are the browser client and the demo page (tests and node_modules are
// in subdirectories and not embedded).
//
//go:embed *.js *.html *.css *.svg
var files embed.FS

// etags maps each embedded file to a strong ETag of its content, so browsers
// revalidate cheaply (embedded files have no modification time).
var etags = func() map[string]string {
	m := make(map[string]string)
	fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error { //nolint:errcheck // embed.FS walks cannot fail
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m["/"+p] = `"` + hex.EncodeToString(sum[:12]) + `"`
		return nil
	})
	return m
}()

// FS returns the embedded files: the ES modules of the client and the demo
// page (index.html, app.js, style.css).
func FS() fs.FS { return files }

// Handler serves the client and the demo page: "/" is index.html, "/streamd.js"
// the client module. Only GET and HEAD are allowed; unknown paths are 404
// (no directory listings). Responses carry an ETag and "Cache-Control:
// no-cache", so a new binary's files are picked up on the next load.
func Handler() http.Handler {
	fileServer := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		if p == "/" || p == "/index.html" {
			p = "/index.html"
		}
		etag, ok := etags[p]
		if !ok || strings.Contains(p, "..") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("ETag", etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		if strings.HasSuffix(p, ".js") {
			h.Set("Content-Type", "text/javascript; charset=utf-8")
		}
		if p == "/index.html" {
			// http.FileServer redirects /index.html to /; serve it directly.
			b, _ := files.ReadFile("index.html")
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss: https:; img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
			if match := r.Header.Get("If-None-Match"); match == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			if r.Method == http.MethodHead {
				return
			}
			w.Write(b) //nolint:errcheck // the client went away
			return
		}
		fileServer.ServeHTTP(w, r)
	})
}
