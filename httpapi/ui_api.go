package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/nodeset"
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

// groupPage is the answer of /group: a page of a group's results and their
// hosts folded.
type groupPage struct {
	Items      []groupRow `json:"items"`
	Folded     string     `json:"folded"`
	NextCursor string     `json:"nextCursor,omitempty"`
}

// group lists a page of the results of one aggregation group, in index
// order and without bodies: GET /api/v1/jobs/ID/group?by=value|status|
// errorClass|body&value=V&cursor=&limit=, V being the group's value as
// /aggregate names it ("none" for results without an error class, "exit 1",
// "[error: connect_refused]") and the first cursor of a large group its
// hostsCursor. The page is one query of the store, bounded by limit and
// store.MaxGroupScan: a page of a sparse group may be short, even empty,
// while nextCursor is set.
func (s *Server) group(c *gin.Context) {
	by, err := byParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	q := store.GroupQuery{By: by}
	var ok bool
	if q.Value, ok = c.GetQuery("value"); !ok {
		fail(c, badRequest("value", "value is required: the group's value as /aggregate names it"))
		return
	}
	if by == store.ByErrorClass && q.Value == "" {
		q.Value = "none" // no error class, as earlier versions took it
	}
	if q.Cursor, err = indexCursor(c); err != nil {
		fail(c, err)
		return
	}
	if q.Limit, err = limitParam(c); err != nil {
		fail(c, err)
		return
	}
	if !s.requireJob(c) {
		return
	}
	rows, next, err := s.st.GroupResults(c.Request.Context(), c.Param("id"), q)
	if err != nil {
		fail(c, err)
		return
	}
	out := groupPage{Items: make([]groupRow, len(rows))}
	hosts := make([]string, len(rows))
	for i, r := range rows {
		out.Items[i] = groupRow{Index: r.Index, Host: r.Host, State: r.State, Value: r.Value, ErrorClass: r.ErrorClass}
		hosts[i] = r.Host
	}
	out.Folded = nodeset.Fold(hosts)
	if next > 0 {
		out.NextCursor = strconv.Itoa(next)
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
