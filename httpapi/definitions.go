package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// definitionKind is one kind of named definition served under /api/v1.
type definitionKind struct {
	path  string // URL segment
	kind  string // store kind
	label string // for messages
	// check validates a body and returns it normalized.
	check func(s *Server, body []byte) ([]byte, error)
}

var definitionKinds = []definitionKind{
	{path: "nodegroups", kind: store.KindNodeGroup, label: "node group", check: checkNodeGroup},
	{path: "commands", kind: store.KindCommand, label: "command", check: checkCommand},
	{path: "aggregations", kind: store.KindAggregation, label: "aggregation", check: checkAggregation},
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// bindStrict reads the request's JSON body into v (unknown fields are
// refused); on error it fails the request and returns false.
func bindStrict(c *gin.Context, v any) bool {
	body, err := io.ReadAll(c.Request.Body)
	if err == nil {
		err = decodeStrict(body, v)
	}
	if err != nil {
		fail(c, err)
		return false
	}
	return true
}

func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("", "invalid JSON: "+err.Error())
	}
	return nil
}

// checkNodeGroup validates a node group: every host a target, or a
// nodeset of targets (kept as written, expanded when a job uses the
// group), at most MaxTargets hosts in all.
func checkNodeGroup(s *Server, body []byte) ([]byte, error) {
	var ng struct {
		Hosts []string `json:"hosts"`
	}
	if err := decodeStrict(body, &ng); err != nil {
		return nil, err
	}
	if len(ng.Hosts) == 0 {
		return nil, badRequest("hosts", "a node group needs at least one host")
	}
	// Expanded as a job that names the group will, to check them.
	spec := &job.Spec{Targets: make([]job.TargetSpec, len(ng.Hosts))}
	for i, h := range ng.Hosts {
		spec.Targets[i].Host = h
	}
	if err := spec.ExpandTargets(s.cfg.MaxTargets, job.ParseCheck(job.ProtocolHTTP)); err != nil {
		var fe *job.FieldError
		if errors.As(err, &fe) {
			return nil, badRequest(strings.Replace(fe.Field, "targets", "hosts", 1), fe.Msg)
		}
		return nil, err
	}
	return json.Marshal(ng)
}

func checkAggregation(_ *Server, body []byte) ([]byte, error) {
	var a job.Aggregation
	if err := decodeStrict(body, &a); err != nil {
		return nil, err
	}
	if a.Regex == "" {
		return nil, badRequest("regex", "regex is required")
	}
	if _, err := regexp.Compile(a.Regex); err != nil {
		return nil, badRequest("regex", err.Error())
	}
	return json.Marshal(job.Aggregation{Regex: a.Regex})
}

// checkCommand validates a command template: a job spec without targets.
func checkCommand(_ *Server, body []byte) ([]byte, error) {
	spec, err := job.DecodeSpec(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if len(spec.Targets) > 0 || spec.NodeGroup != "" {
		return nil, badRequest("targets", "a command template has no targets or nodeGroup")
	}
	return json.Marshal(spec.Redacted())
}

func (s *Server) listDefinitions(k definitionKind) gin.HandlerFunc {
	return func(c *gin.Context) {
		names, err := s.st.ListDefinitions(c.Request.Context(), k.kind)
		if err != nil {
			fail(c, err)
			return
		}
		if names == nil {
			names = []string{}
		}
		c.JSON(http.StatusOK, page[string]{Items: names})
	}
}

func (s *Server) getDefinition(k definitionKind) gin.HandlerFunc {
	return func(c *gin.Context) {
		body, err := s.st.GetDefinition(c.Request.Context(), k.kind, c.Param("name"))
		if err != nil {
			fail(c, notFound(err, k.label, c.Param("name")))
			return
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", body)
	}
}

func (s *Server) putDefinition(k definitionKind) gin.HandlerFunc {
	return func(c *gin.Context) {
		name := c.Param("name")
		if !namePattern.MatchString(name) || store.CheckDefinitionName(name) != nil {
			fail(c, badRequest("name", "a name is 1 to 128 letters, digits, '_', '.' or '-', and not \".\" or \"..\""))
			return
		}
		// REST Commander's calls match names regardless of case: two names
		// that differ only by case would make them ambiguous.
		names, err := s.st.ListDefinitions(c.Request.Context(), k.kind)
		if err != nil {
			fail(c, err)
			return
		}
		for _, other := range names {
			if other != name && strings.EqualFold(other, name) {
				fail(c, badRequest("name", fmt.Sprintf("%q differs from the existing %q only by case", name, other)))
				return
			}
		}
		raw, err := io.ReadAll(c.Request.Body)
		if err != nil {
			fail(c, err)
			return
		}
		body, err := k.check(s, raw)
		if err != nil {
			fail(c, err)
			return
		}
		if err := s.st.PutDefinition(c.Request.Context(), k.kind, name, body); err != nil {
			fail(c, err)
			return
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", body)
	}
}

func (s *Server) deleteDefinition(k definitionKind) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := s.st.DeleteDefinition(c.Request.Context(), k.kind, c.Param("name")); err != nil {
			fail(c, notFound(err, k.label, c.Param("name")))
			return
		}
		c.Status(http.StatusNoContent)
	}
}
