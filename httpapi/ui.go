package httpapi

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/auth"
)

// uiFiles holds the dashboard: plain HTML, CSS and JavaScript modules, served
// as they are (no build step).
//
//go:embed ui
var uiFiles embed.FS

// uiCSP is the dashboard's content security policy: only this origin's
// scripts, styles and API (the pages build their DOM with textContent and
// never evaluate strings).
const uiCSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// uiRoutes serves the dashboard under /ui/ from the embedded files and
// redirects / to it.
func (s *Server) uiRoutes(r *gin.Engine) {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		// The directory is embedded at build time: this cannot happen.
		panic("httpapi: embedded ui directory: " + err.Error())
	}
	files := http.StripPrefix("/ui", http.FileServerFS(sub))
	s.route(&r.RouterGroup, auth.Public, http.MethodGet, "/ui/*filepath", func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", uiCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(c.Writer, c.Request)
	})
	s.route(&r.RouterGroup, auth.Public, http.MethodGet, "/", func(c *gin.Context) { c.Redirect(http.StatusFound, "/ui/") })
}
