package cluster

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseKeys(t *testing.T) {
	k16 := bytes.Repeat([]byte{1}, 16)
	k24 := bytes.Repeat([]byte{2}, 24)
	k32 := bytes.Repeat([]byte{3}, 32)
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name    string
		in      string
		want    [][]byte
		wantErr string
	}{
		{name: "one key", in: b64(k32) + "\n", want: [][]byte{k32}},
		{name: "three sizes, primary first", in: b64(k16) + "\n" + b64(k24) + "\n" + b64(k32), want: [][]byte{k16, k24, k32}},
		{name: "comments, blanks, spaces, CRLF", in: "# salvo gossip keys\r\n\r\n  " + b64(k24) + "  \r\n", want: [][]byte{k24}},
		{name: "unpadded base64", in: strings.TrimRight(b64(k16), "="), want: [][]byte{k16}},
		{name: "empty file", in: "", wantErr: "no key found"},
		{name: "only comments", in: "# nothing\n\n", wantErr: "no key found"},
		{name: "not base64", in: b64(k16) + "\nthis is not base64!\n", wantErr: "line 2: not a base64 key"},
		{name: "wrong length", in: b64([]byte("short key")), wantErr: "line 1: key is 9 bytes, want 16, 24 or 32"},
		{name: "33 bytes", in: b64(append(k32, 0)), wantErr: "key is 33 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKeys([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d keys, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Errorf("key %d = %x, want %x", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestLoadKeyring(t *testing.T) {
	dir := t.TempDir()
	primary := bytes.Repeat([]byte{7}, 32)
	second := bytes.Repeat([]byte{8}, 16)
	good := filepath.Join(dir, "good.keys")
	content := base64.StdEncoding.EncodeToString(primary) + "\n" + base64.StdEncoding.EncodeToString(second) + "\n"
	if err := os.WriteFile(good, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	kr, err := LoadKeyring(good)
	if err != nil {
		t.Fatalf("LoadKeyring: %v", err)
	}
	if !bytes.Equal(kr.GetPrimaryKey(), primary) {
		t.Errorf("primary key = %x, want the first line's", kr.GetPrimaryKey())
	}
	if n := len(kr.GetKeys()); n != 2 {
		t.Errorf("keyring holds %d keys, want 2", n)
	}

	bad := filepath.Join(dir, "bad.keys")
	if err := os.WriteFile(bad, []byte("c2VjcmV0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadKeyring(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad key file: err = %v, want the path and line", err)
	}
	if strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("error leaks the key: %v", err)
	}

	if _, err := LoadKeyring(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "gossip key file") {
		t.Fatalf("missing file: err = %v", err)
	}
}
