package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/salvo-sh/salvo/auth"
)

// TokenInfo is a token as the API lists it.
type TokenInfo = auth.View

// CreateToken asks for a new token; the answer holds its secret, once.
func (c *Client) CreateToken(ctx context.Context, name, role, expires string, scope []string) (*TokenInfo, error) {
	var t TokenInfo
	body := map[string]any{"name": name, "role": role, "expires": expires, "scope": scope}
	if err := c.do(ctx, http.MethodPost, c.base+"/api/v1/tokens", body, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTokens lists the tokens (never their secrets).
func (c *Client) ListTokens(ctx context.Context) ([]TokenInfo, error) {
	var pg struct {
		Items []TokenInfo `json:"items"`
	}
	if err := c.do(ctx, http.MethodGet, c.base+"/api/v1/tokens", nil, &pg); err != nil {
		return nil, err
	}
	return pg.Items, nil
}

// RevokeToken revokes a token by name.
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, c.base+"/api/v1/tokens/"+url.PathEscape(name), nil, nil)
}

// PrintTokens writes a table of tokens.
func PrintTokens(w io.Writer, ts []TokenInfo) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tEXPIRES\tSCOPE\tCREATED")
	for _, t := range ts {
		exp := "never"
		if t.Expires != nil {
			exp = t.Expires.Format(time.RFC3339)
		}
		scope := "-"
		if len(t.Scope) > 0 {
			scope = strings.Join(t.Scope, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, exp, scope, t.Created.Format(time.RFC3339))
	}
	tw.Flush()
}
