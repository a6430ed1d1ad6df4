package web_test

import (
	"os"
	"testing"
	"time"

	"github.com/streamd/streamd/web/internal/nodetest"
)

// The browser client is tested by Node's test runner (web/test): the codec
// against testdata/wire/vectors.json, the SHA-256, the broadcast records, the
// dataset decoder, the session logic against a scripted peer, and the session
// against a real `streamd serve`. These Go tests run those suites, so
// `go test ./...` covers the JavaScript too; they skip, saying why, when node
// is not installed. The Chromium end-to-end tests are in web/test/e2e.

func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.Cleanup()
	os.Exit(code)
}

// TestJSUnit runs the client's unit tests.
func TestJSUnit(t *testing.T) {
	t.Parallel()
	nodetest.Run(t, ".", nil, 2, 2*time.Minute, "test/vectors.test.mjs", "test/sha256.test.mjs",
		"test/broadcast.test.mjs", "test/session_unit.test.mjs", "test/dataset.test.mjs", "test/compress.test.mjs")
}

// TestJSSession runs the client's session tests against a real streamd serve.
func TestJSSession(t *testing.T) {
	t.Parallel()
	nodetest.Node(t)
	bin := nodetest.Streamd(t)
	nodetest.Run(t, ".", []string{"STREAMD_BIN=" + bin}, 1, 3*time.Minute, "test/session.test.mjs")
}
