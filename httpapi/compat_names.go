package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/salvo-sh/salvo/store"
)

// rcDefinition reads the definition of a kind that the parameter field
// names: the one of that exact name, else the one stored name that equals
// it but for case (REST Commander's clients write node_list, node_List and
// NODE_LIST for one group). Two stored names that differ only by case are
// ambiguous: 400 naming the field and both names. It returns the body and
// the stored name; store.ErrNotFound when no name matches.
func (s *Server) rcDefinition(ctx context.Context, kind, field, name string) ([]byte, string, error) {
	body, err := s.st.GetDefinition(ctx, kind, name)
	if !errors.Is(err, store.ErrNotFound) {
		return body, name, err
	}
	names, lerr := s.st.ListDefinitions(ctx, kind)
	if lerr != nil {
		return nil, "", lerr
	}
	var matches []string
	for _, n := range names {
		if strings.EqualFold(n, name) {
			matches = append(matches, n)
		}
	}
	switch len(matches) {
	case 0:
		return nil, "", err
	case 1:
		body, err := s.st.GetDefinition(ctx, kind, matches[0])
		return body, matches[0], err
	}
	quoted := make([]string, len(matches))
	for i, m := range matches {
		quoted[i] = fmt.Sprintf("%q", m)
	}
	return nil, "", badRequest(field, fmt.Sprintf("%s %q is ambiguous: the %s names %s differ only by case; give one exactly",
		field, name, kindNoun(kind), strings.Join(quoted, " and ")))
}

// kindNoun names a definition kind in messages.
func kindNoun(kind string) string {
	switch kind {
	case store.KindNodeGroup:
		return "node group"
	case store.KindCommand:
		return "command"
	case store.KindAggregation:
		return "aggregation"
	case store.KindHeaderSet:
		return "header set"
	}
	return kind
}
