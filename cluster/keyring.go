package cluster

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/memberlist"
)

// LoadKeyring reads a gossip key file and returns memberlist's keyring.
//
// The file holds one base64 key (16, 24 or 32 bytes once decoded: AES-128,
// AES-192 or AES-256) per line; the first key is the primary one, used to
// encrypt, and every key is tried to decrypt, which allows key rotation.
// Blank lines and lines starting with '#' are ignored. Errors name the file
// and line but never the key.
func LoadKeyring(path string) (*memberlist.Keyring, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gossip key file: %w", err)
	}
	keys, err := ParseKeys(data)
	if err != nil {
		return nil, fmt.Errorf("gossip key file %s: %w", path, err)
	}
	kr, err := memberlist.NewKeyring(keys[1:], keys[0])
	if err != nil {
		return nil, fmt.Errorf("gossip key file %s: %w", path, err)
	}
	return kr, nil
}

// ParseKeys parses the content of a gossip key file (see LoadKeyring) and
// returns its keys, primary first.
func ParseKeys(data []byte) ([][]byte, error) {
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			if key, err = base64.RawStdEncoding.DecodeString(s); err != nil {
				return nil, fmt.Errorf("line %d: not a base64 key", line)
			}
		}
		if err := memberlist.ValidateKey(key); err != nil {
			return nil, fmt.Errorf("line %d: key is %d bytes, want 16, 24 or 32", line, len(key))
		}
		keys = append(keys, key)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no key found (want one base64 key per line)")
	}
	return keys, nil
}
