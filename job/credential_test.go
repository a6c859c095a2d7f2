package job

import (
	"context"
	"errors"
	"testing"
)

// TestCheckPathsConfigFile: ssh.configFile follows the rule of the other
// server paths a spec names: under the key directory, or an admin's.
func TestCheckPathsConfigFile(t *testing.T) {
	const keyDir = "/var/lib/salvo/ssh"
	operator := WithPathAuthority(context.Background(), false)
	admin := WithPathAuthority(context.Background(), true)
	tests := []struct {
		name  string
		ctx   context.Context
		path  string
		field string // "" for accepted
	}{
		{"operator, a server file", operator, "/etc/passwd", "ssh.configFile"},
		{"operator, escaping the key dir", operator, keyDir + "/../../../etc/passwd", "ssh.configFile"},
		{"operator, the worker's home", operator, "~/.ssh/config", "ssh.configFile"},
		{"operator, under the key dir", operator, keyDir + "/fleet.conf", ""},
		{"admin, anywhere", admin, "/etc/ssh/ssh_config", ""},
		{"trusted code", context.Background(), "~/.ssh/config", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPaths(tc.ctx, &SSHSpec{ConfigFile: tc.path}, keyDir)
			var fe *FieldError
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
				t.Fatalf("got %v, want a field error naming %s", err, tc.field)
			}
		})
	}
}

func TestCredentialSSHConfigFile(t *testing.T) {
	// Check: an absolute path, and enough to log in with on its own.
	for _, tc := range []struct {
		c     Credential
		field string
	}{
		{Credential{SSHConfigFile: "/etc/salvo/ssh_config"}, ""},
		{Credential{SSHConfigFile: "ssh_config"}, "sshConfigFile"},
		{Credential{User: "x"}, "privateKeyFile"},
	} {
		err := tc.c.Check()
		var fe *FieldError
		if (tc.field == "") != (err == nil) || (err != nil && (!errors.As(err, &fe) || fe.Field != tc.field)) {
			t.Errorf("Check(%+v) = %v, want field %q", tc.c, err, tc.field)
		}
	}
	// Apply: the credential's file fills the spec, which may not name one
	// itself (as with knownHostsFile).
	c := Credential{User: "deploy", SSHConfigFile: "/etc/salvo/ssh_config"}
	s := SSHSpec{Command: "x"}
	if err := c.Apply(&s); err != nil || s.ConfigFile != c.SSHConfigFile || s.User != "deploy" {
		t.Fatalf("Apply: %v, spec %+v", err, s)
	}
	for _, cr := range []Credential{c, {Password: "p"}} {
		s = SSHSpec{ConfigFile: "/k/own"}
		var fe *FieldError
		if err := cr.Apply(&s); !errors.As(err, &fe) || fe.Field != "ssh.configFile" {
			t.Fatalf("a credential (%v) and the spec's own: %v, want a field error naming ssh.configFile", cr.String(), err)
		}
	}
}

// TestNormalizeConfigFile: with a config file an unset port stays 0 (the
// config's Port may apply); the path must be absolute or under ~/.
func TestNormalizeConfigFile(t *testing.T) {
	for _, tc := range []struct {
		file     string
		port     int
		wantPort int
		field    string
	}{
		{"", 0, DefaultSSHPort, ""},
		{"/etc/salvo/ssh_config", 0, 0, ""},
		{"~/.ssh/config", 2222, 2222, ""},
		{"ssh_config", 0, 0, "ssh.configFile"},
	} {
		s := &Spec{Protocol: ProtocolSSH, Targets: []TargetSpec{{Host: "h"}},
			SSH: &SSHSpec{Command: "true", ConfigFile: tc.file, Port: tc.port}}
		err := s.Normalize(0)
		var fe *FieldError
		switch {
		case tc.field != "":
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Errorf("%q: %v, want a field error naming %s", tc.file, err, tc.field)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.file, err)
		case s.SSH.Port != tc.wantPort:
			t.Errorf("%q: port %d, want %d", tc.file, s.SSH.Port, tc.wantPort)
		}
	}
}
