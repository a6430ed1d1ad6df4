package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/streamd/streamd/bench/internal/harness"
)

// WriteHTML writes rep as one self-contained HTML page: a section per
// scenario with its charts (inline SVG), its table and its notes, and the
// report's JSON embedded for tools.
func WriteHTML(w io.Writer, rep *harness.Report) error {
	page := htmlPage{Report: rep}
	for i := range rep.Scenarios {
		s := &rep.Scenarios[i]
		sec := htmlScenario{S: s}
		for i, name := range contenderNames(s) {
			c := colorOf(i)
			sec.Legend = append(sec.Legend, htmlLegend{Name: name, Color: fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B)})
		}
		for _, m := range s.Metrics {
			if !m.Chart || len(s.Cases) == 0 {
				continue
			}
			svg, err := ChartSVG(s, m)
			if err != nil {
				return err
			}
			sec.Charts = append(sec.Charts, template.HTML(stripXMLProlog(svg)))
		}
		for _, r := range s.Rows {
			hr := htmlRow{Case: r.Case, Contender: r.Contender, Error: r.Error, Baseline: r.Contender == s.Baseline}
			for _, m := range s.Metrics {
				v, ok := r.Values[m.Key]
				if !ok {
					hr.Cells = append(hr.Cells, htmlCell{Median: "—"})
					continue
				}
				cell := htmlCell{Median: Number(v.Median), Range: Number(v.Min) + "–" + Number(v.Max)}
				if m.Key == s.Primary {
					cell.Ratio = ratioText(v.Ratio)
				}
				hr.Cells = append(hr.Cells, cell)
			}
			sec.Rows = append(sec.Rows, hr)
		}
		page.Scenarios = append(page.Scenarios, sec)
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("embed report JSON: %w", err)
	}
	// Inside <script>, "</" must not appear literally.
	page.JSON = template.JS(strings.ReplaceAll(string(raw), "</", `<\/`))
	return pageTemplate.Execute(w, page)
}

func stripXMLProlog(svg []byte) []byte {
	if i := bytes.Index(svg, []byte("<svg")); i >= 0 {
		return svg[i:]
	}
	return svg
}

type htmlPage struct {
	Report    *harness.Report
	Scenarios []htmlScenario
	JSON      template.JS
}

type htmlScenario struct {
	S      *harness.ScenarioResult
	Legend []htmlLegend
	Charts []template.HTML
	Rows   []htmlRow
}

type htmlLegend struct{ Name, Color string }

type htmlRow struct {
	Case, Contender, Error string
	Baseline               bool
	Cells                  []htmlCell
}

type htmlCell struct{ Median, Range, Ratio string }

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{
	"heading": heading,
	"other": func(other *float64) template.HTML {
		text := template.HTMLEscapeString(otherCPUText(other))
		if other != nil && *other > DisturbedAbove {
			return template.HTML(`<span class="warn">` + text + `</span>`)
		}
		return template.HTML(text)
	},
	"seconds": func(s float64) string { return fmt.Sprintf("%.0f s", s) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>streamd bench — {{.Report.Profile.Name}} — {{.Report.StartedAt.Format "2006-01-02 15:04 MST"}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif;margin:0 auto;max-width:1100px;padding:1.5rem;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6rem;margin:.2rem 0}h2{margin-top:2.5rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
.meta,.desc{color:#555}.meta code{background:#f3f3f3;padding:0 .3em;border-radius:3px}
nav a{margin-right:1rem}
.legend span{display:inline-block;margin:.2rem 1rem .2rem 0;font-size:.9rem}
.legend i{display:inline-block;width:.9rem;height:.9rem;margin-right:.35rem;vertical-align:-2px;border-radius:2px}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.charts svg{max-width:100%;height:auto;border:1px solid #eee;border-radius:4px}
svg text{font-family:"Liberation Sans",Arial,Helvetica,sans-serif !important}
table{border-collapse:collapse;margin-top:1rem;font-size:.9rem;width:100%}
th,td{padding:.3rem .6rem;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}th{white-space:normal;vertical-align:bottom}
.scroll{overflow-x:auto}
th:nth-child(-n+2),td:nth-child(-n+2){text-align:left}
th{background:#fafafa;font-weight:600}
td small{color:#888;margin-left:.3em}td b{margin-left:.4em}
tr.base td{background:#f7fbff}tr.err td{background:#fff4f4}
.error{color:#b00020;font-size:.85rem}.warn{color:#b00020;font-weight:600}.notes{font-size:.9rem;color:#555}
details{margin:.5rem 0;font-size:.9rem;color:#444}
</style>
</head>
<body>
<h1>streamd bench</h1>
<p class="meta">{{.Report.StartedAt.Format "2006-01-02 15:04:05 MST"}} · profile <code>{{.Report.Profile.Name}}</code>, {{.Report.Profile.Repeat}} repeats · {{.Report.Host.GoVersion}} {{.Report.Host.OS}}/{{.Report.Host.Arch}}, {{.Report.Host.CPUs}} CPUs · took {{seconds .Report.Seconds}}{{other .Report.Host.OtherCPU}}.
Each bar is the median of the repeats; whiskers span min–max. Ratios divide a median by the baseline's median in the same case.</p>
<nav>{{range .Scenarios}}<a href="#{{.S.Name}}">{{.S.Name}}</a>{{end}}</nav>
{{range .Scenarios}}{{$s := .S}}
<section id="{{$s.Name}}">
<h2>{{$s.Title}}</h2>
<p class="desc">{{$s.Description}} Baseline: <b>{{$s.Baseline}}</b>. Took {{seconds $s.Seconds}}{{other $s.OtherCPU}}.</p>
<details><summary>Contenders</summary><ul>{{range $s.Contenders}}<li><b>{{.Name}}</b>: {{.Description}}</li>{{end}}</ul></details>
<div class="legend">{{range .Legend}}<span><i style="background:{{.Color}}"></i>{{.Name}}</span>{{end}}</div>
<div class="charts">{{range .Charts}}{{.}}{{end}}</div>
<div class="scroll"><table>
<thead><tr><th>case</th><th>contender</th>{{range $s.Metrics}}<th>{{heading .}}{{if eq .Key $s.Primary}} · vs {{$s.Baseline}}{{end}}</th>{{end}}</tr></thead>
<tbody>
{{range .Rows}}<tr class="{{if .Baseline}}base{{end}}{{if .Error}} err{{end}}"><td>{{.Case}}</td><td>{{.Contender}}</td>{{range .Cells}}<td>{{.Median}}{{if .Range}}<small>{{.Range}}</small>{{end}}{{if .Ratio}}<b>{{.Ratio}}</b>{{end}}</td>{{end}}</tr>
{{if .Error}}<tr class="err"><td colspan="99" class="error">{{.Case}} / {{.Contender}}: {{.Error}}</td></tr>{{end}}{{end}}
</tbody>
</table></div>
{{if $s.Notes}}<ul class="notes">{{range $s.Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
</section>
{{end}}
<script type="application/json" id="report-json">{{.JSON}}</script>
</body>
</html>
`))
