package server

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/salvo-sh/salvo/auth"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// SecretKeyFile is the file in the data dir holding the key that seals
// the secrets the node keeps (credential passwords), mode 0600.
const SecretKeyFile = "secret.key"

// credentialStore keeps SSH credentials as store definitions, their
// passwords sealed: the store file never holds one in the clear.
type credentialStore struct {
	st     store.Store
	sealer *auth.Sealer
}

// PutCredential stores a credential, sealing its password.
func (cs *credentialStore) PutCredential(ctx context.Context, name string, c job.Credential) error {
	sealed, err := cs.sealer.Seal(c.Password)
	if err != nil {
		return fmt.Errorf("seal the password of credential %q: %w", name, err)
	}
	c.Password = sealed
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return cs.st.PutDefinition(ctx, store.KindCredential, name, body)
}

// GetCredential returns a credential with its password opened, or
// store.ErrNotFound.
func (cs *credentialStore) GetCredential(ctx context.Context, name string) (*job.Credential, error) {
	body, err := cs.st.GetDefinition(ctx, store.KindCredential, name)
	if err != nil {
		return nil, err
	}
	var c job.Credential
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("credential %q: %w", name, err)
	}
	if c.Password, err = cs.sealer.Open(c.Password); err != nil {
		return nil, fmt.Errorf("credential %q: %w", name, err)
	}
	return &c, nil
}

// ListCredentials returns the credentials' names.
func (cs *credentialStore) ListCredentials(ctx context.Context) ([]string, error) {
	return cs.st.ListDefinitions(ctx, store.KindCredential)
}

// DeleteCredential removes a credential, or returns store.ErrNotFound.
func (cs *credentialStore) DeleteCredential(ctx context.Context, name string) error {
	return cs.st.DeleteDefinition(ctx, store.KindCredential, name)
}
