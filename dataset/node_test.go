package dataset

import (
	"encoding/json"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// nodeScript is the Node program that reads Arrow files with apache-arrow.
const nodeScript = "testdata/node/read_arrow.mjs"

// nodeColumn is what read_arrow.mjs prints for a column.
type nodeColumn struct {
	Type  string  `json:"type"`
	Nulls int64   `json:"nulls"`
	Sum   *string `json:"sum"`
}

// requireNode returns the node binary, or skips the test with the reason
// (fails it when STREAMD_REQUIRE_NODE=1, as CI may set).
func requireNode(t *testing.T) string {
	t.Helper()
	skip := t.Skip
	if os.Getenv("STREAMD_REQUIRE_NODE") == "1" {
		skip = t.Fatal
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skip("node is not installed: the Arrow files cannot be checked with apache-arrow (CI installs it)")
	}
	if _, err := os.Stat("testdata/node/node_modules/apache-arrow/package.json"); err != nil {
		skip("apache-arrow is not installed: run npm ci --prefix dataset/testdata/node (CI does)")
	}
	return node
}

// columnSums computes what read_arrow.mjs reports for rows of s.
func columnSums(s *Schema, rows []Row) map[string]nodeColumn {
	out := map[string]nodeColumn{}
	for c, col := range s.Columns() {
		var nulls int64
		ints := new(big.Int)
		var floats float64
		var count int64
		for _, r := range rows {
			v := r[c]
			if v == nil {
				nulls++
				continue
			}
			switch col.Type {
			case TypeInt64:
				ints.Add(ints, big.NewInt(v.(int64)))
			case TypeTimestamp:
				ints.Add(ints, big.NewInt(timestampValue(v.(time.Time), col.Unit)))
			case TypeDate:
				count += v.(time.Time).Unix() / 86400
			case TypeFloat64:
				floats += v.(float64)
			case TypeBool:
				if v.(bool) {
					count++
				}
			case TypeString:
				count += int64(len(v.(string)))
			}
		}
		nc := nodeColumn{Nulls: nulls}
		var sum string
		switch col.Type {
		case TypeInt64, TypeTimestamp:
			sum = ints.String()
		case TypeFloat64:
			sum = strconv.FormatFloat(floats, 'g', -1, 64)
		case TypeDate, TypeBool, TypeString:
			sum = strconv.FormatInt(count, 10)
		}
		if sum != "" && nulls < int64(len(rows)) {
			nc.Sum = &sum
		}
		out[col.Name] = nc
	}
	return out
}

func timestampValue(t time.Time, u TimeUnit) int64 {
	switch u {
	case UnitSecond:
		return t.Unix()
	case UnitMilli:
		return t.UnixMilli()
	case UnitNano:
		return t.UnixNano()
	}
	return t.UnixMicro()
}

// TestNodeReadsExportedArrow exports datasets through a session into Arrow
// IPC files and streams and checks them with an independent reader: the
// apache-arrow npm package in Node must see the same row count, null
// counts and column sums.
func TestNodeReadsExportedArrow(t *testing.T) {
	node := requireNode(t)
	env := newExportEnv(t, CatalogConfig{}, nil)
	const n = 5000
	env.addDemo(n)
	s := allTypesSchema(t)
	env.addRecords("types", s, allTypesRows(t), 3)
	sess := env.dial()
	dir := t.TempDir()
	for _, tc := range []struct {
		dataset string
		layout  Layout
		format  Format
		schema  *Schema
		rows    []Row
	}{
		{"demo", LayoutArrow, FormatArrow, DemoSchema(), wantRows(t, DemoSchema(), demoRows(0, n))},
		{"demo", LayoutBatched, FormatArrowStream, DemoSchema(), wantRows(t, DemoSchema(), demoRows(0, n))},
		{"types", LayoutRows, FormatArrow, s, wantRows(t, s, allTypesRows(t))},
	} {
		path := filepath.Join(dir, tc.dataset+"-"+string(tc.layout)+"."+string(tc.format))
		res, err := ExportFile(t.Context(), sess, tc.dataset, path, tc.format, ExportFileOptions{ExportOptions: ExportOptions{Layouts: []Layout{tc.layout}, BatchRows: 4096}})
		require.NoError(t, err)
		require.Equal(t, int64(len(tc.rows)), res.Rows)
		out, err := exec.CommandContext(t.Context(), node, nodeScript, path).Output()
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		require.NoError(t, err, "node %s: %s", nodeScript, stderr)
		var got struct {
			Rows    int64                 `json:"rows"`
			Columns map[string]nodeColumn `json:"columns"`
		}
		require.NoError(t, json.Unmarshal(out, &got), "node printed %s", out)
		require.Equal(t, int64(len(tc.rows)), got.Rows, "row count seen by apache-arrow")
		want := columnSums(tc.schema, tc.rows)
		require.Len(t, got.Columns, len(want))
		for name, w := range want {
			g := got.Columns[name]
			require.Equal(t, w.Nulls, g.Nulls, "%s: nulls of column %s (%s)", path, name, g.Type)
			if w.Sum == nil {
				continue
			}
			require.NotNil(t, g.Sum, "%s: no sum for column %s (%s)", path, name, g.Type)
			if tc.schema.Column(tc.schema.Index(name)).Type == TypeFloat64 {
				wf, _ := strconv.ParseFloat(*w.Sum, 64)
				gf, err := strconv.ParseFloat(*g.Sum, 64)
				require.NoError(t, err)
				require.True(t, wf == gf || math.IsNaN(wf) && math.IsNaN(gf), "%s: sum of column %s: want %s, node %s", path, name, *w.Sum, *g.Sum)
				continue
			}
			require.Equal(t, *w.Sum, *g.Sum, "%s: sum of column %s (%s)", path, name, g.Type)
		}
		t.Logf("%s: apache-arrow read %d rows; sums match %s", filepath.Base(path), got.Rows, out)
	}
}
