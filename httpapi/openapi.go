package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/auth"
)

// openAPIDoc is the OpenAPI 3 description of /api/v1, written by hand;
// openapi_test.go checks that it lists exactly the routes of the router,
// with their roles, and that real requests and answers validate against it.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPIRoutes serves GET /api/v1/openapi.json. It is public: the
// document describes the API that salvo's own docs describe, and names
// nothing of this node (no address, no token, no definition).
func (s *Server) openAPIRoutes(v1 *gin.RouterGroup) {
	s.route(v1, auth.Public, http.MethodGet, "/openapi.json", func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Data(http.StatusOK, "application/json; charset=utf-8", openAPIDoc)
	})
}
