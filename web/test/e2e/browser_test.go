// Package e2e holds the end-to-end tests of the demo page and the browser
// client in real headless Chromium (Debian's chromium driven by
// playwright-core) against `streamd serve` on loopback. The tests themselves
// are the *.test.mjs files here, run by Node's test runner; this Go test
// builds the streamd binary and runs them, so `go test ./...` covers them.
package e2e_test

import (
	"os"
	"testing"
	"time"

	"github.com/streamd/streamd/web/internal/nodetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.Cleanup()
	os.Exit(code)
}

// TestBrowser runs every *.test.mjs of this directory. It skips when
// /usr/bin/chromium (or $CHROMIUM) is absent — fails instead when
// STREAMD_REQUIRE_BROWSER is set (CI) — and fails when playwright-core is not
// installed (run `npm ci` in web/).
func TestBrowser(t *testing.T) {
	nodetest.Node(t)
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("STREAMD_REQUIRE_BROWSER") != "" {
			t.Fatalf("%s not found and STREAMD_REQUIRE_BROWSER is set (apt-get install chromium; npm ci in web/)", chromium)
		}
		t.Skipf("%s not found: skipping the browser tests (apt-get install chromium; npm ci in web/)", chromium)
	}
	bin := nodetest.Streamd(t)
	// Two files at a time: the tests mostly wait (on the network, on
	// reconnect backoff), so they overlap well even on two cores.
	nodetest.Run(t, ".", []string{"STREAMD_BIN=" + bin}, 2, 5*time.Minute, ".")
}
