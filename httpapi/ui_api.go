package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/store"
)

// groupRow is one result of an aggregation group, without its body.
type groupRow struct {
	Index      int    `json:"index"`
	Host       string `json:"host"`
	State      string `json:"state"`
	Value      string `json:"value"`
	ErrorClass string `json:"errorClass,omitempty"`
}

// errPageFull stops a scan once a page is full.
var errPageFull = errors.New("page full")

// group lists a page of the results of one aggregation group, in index
// order and without bodies: GET /api/v1/jobs/ID/group?by=value|errorClass
// &value=V&cursor=&limit=. by=errorClass takes "none" for results without an
// error class, as /aggregate names them.
func (s *Server) group(c *gin.Context) {
	by := c.DefaultQuery("by", store.ByValue)
	if by != store.ByValue && by != store.ByErrorClass {
		fail(c, badRequest("by", fmt.Sprintf("unknown group key %q (one of %s, %s)", by, store.ByValue, store.ByErrorClass)))
		return
	}
	want, ok := c.GetQuery("value")
	if !ok {
		fail(c, badRequest("value", "value is required: the group's value as /aggregate names it"))
		return
	}
	if by == store.ByErrorClass && want == "none" {
		want = ""
	}
	cursor := 0
	if v := c.Query("cursor"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			fail(c, badRequest("cursor", "cursor must be a value returned as nextCursor"))
			return
		}
		cursor = n
	}
	limit, err := limitParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	if !s.requireJob(c) {
		return
	}
	out := page[groupRow]{Items: []groupRow{}}
	err = s.st.ScanValues(c.Request.Context(), c.Param("id"), func(r store.ValueRow) error {
		key := r.Value
		if by == store.ByErrorClass {
			key = r.ErrorClass
		}
		if r.Index < cursor || key != want {
			return nil
		}
		if len(out.Items) == limit {
			out.NextCursor = strconv.Itoa(r.Index)
			return errPageFull
		}
		out.Items = append(out.Items, groupRow{Index: r.Index, Host: r.Host, State: r.State, Value: r.Value, ErrorClass: r.ErrorClass})
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

// setMemberEnabled enables or disables (drains) a worker by name:
// POST /api/v1/cluster/members/NAME/enable|disable. It answers the members
// list as GET /api/v1/cluster/members does.
func (s *Server) setMemberEnabled(enabled bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		name := c.Param("name")
		ms, err := s.engine.SetEnabled(c.Request.Context(), name, enabled)
		if err != nil {
			fail(c, notFound(err, "member", name))
			return
		}
		c.JSON(http.StatusOK, page[actors.Member]{Items: ms})
	}
}
