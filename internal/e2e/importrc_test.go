package e2e

import (
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/salvo-sh/salvo/internal/testutil"
)

// rcDir is the REST Commander sample configuration in conf/testdata.
func rcDir(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "conf", "testdata", "rc")
}

func names(t *testing.T, url string) []string {
	t.Helper()
	var pg struct {
		Items []string `json:"items"`
	}
	if code := testutil.DoJSON(t, "GET", url, nil, &pg); code != http.StatusOK {
		t.Fatalf("GET %s: %d", url, code)
	}
	return pg.Items
}

// The import-rc command writes REST Commander's definitions into a data dir
// that a server then serves; --rc-conf-dir does the same at start.
func TestImportRCAndConfDir(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bin := testutil.BuildSalvo(t)
	dir := t.TempDir()
	out, err := exec.Command(bin, "import-rc", "--data-dir", dir, rcDir(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("import-rc: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ADHOC_NODE_LIST_WEB") {
		t.Errorf("import-rc output does not name what it imported:\n%s", out)
	}
	check := func(url string) {
		t.Helper()
		if ng := names(t, url+"/api/v1/nodegroups"); !slices.Contains(ng, "ADHOC_NODE_LIST_WEB") {
			t.Errorf("node groups %v lack ADHOC_NODE_LIST_WEB", ng)
		}
		if cmds := names(t, url+"/api/v1/commands"); !slices.Contains(cmds, "GET_STATUS") {
			t.Errorf("commands %v lack GET_STATUS", cmds)
		}
	}
	srv := testutil.StartServer(t, bin, "--data-dir", dir)
	check(srv.URL())

	srv2 := testutil.StartServer(t, bin, "--data-dir", t.TempDir(), "--rc-conf-dir", rcDir(t))
	check(srv2.URL())

	bad := exec.Command(bin, "import-rc", "--data-dir", t.TempDir(), filepath.Join(t.TempDir(), "missing"))
	if out, err := bad.CombinedOutput(); err == nil {
		t.Errorf("import-rc of a missing dir succeeded:\n%s", out)
	}
}
