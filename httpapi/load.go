package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// load serves GET /api/v1/cluster/load: the master's load snapshot per
// tag and per worker, answered from its memory (docs/scaling.md).
func (s *Server) load(c *gin.Context) {
	l, err := s.engine.Load(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, l)
}
