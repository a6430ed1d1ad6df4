package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/streamd/streamd/bench/internal/harness"
)

func init() {
	// Sans-serif reads better in small charts; the HTML's CSS maps the SVG's
	// "Liberation Sans" to whatever sans-serif font the viewer has.
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
}

// palette is the Okabe–Ito colour-blind-safe palette, in contender order.
var palette = []color.RGBA{
	{0x00, 0x72, 0xB2, 0xff}, // blue
	{0xE6, 0x9F, 0x00, 0xff}, // orange
	{0x00, 0x9E, 0x73, 0xff}, // green
	{0xD5, 0x5E, 0x00, 0xff}, // vermillion
	{0xCC, 0x79, 0xA7, 0xff}, // purple
	{0x56, 0xB4, 0xE9, 0xff}, // sky blue
	{0xF0, 0xE4, 0x42, 0xff}, // yellow
	{0x40, 0x40, 0x40, 0xff}, // grey
}

// colorOf returns the colour of the i-th contender.
func colorOf(i int) color.RGBA { return palette[i%len(palette)] }

// logScaleSpread is the max/min ratio above which a chart switches to a
// logarithmic value axis, so small bars stay readable.
const logScaleSpread = 50

// ChartSVG draws metric m of scenario s as grouped bars (one group per case,
// one bar per contender, whiskers from min to max) and returns the SVG.
func ChartSVG(s *harness.ScenarioResult, m harness.Metric) ([]byte, error) {
	contenders := contenderNames(s)
	g := &groupedBars{cases: len(s.Cases)}
	var minPos, maxHi = math.Inf(1), 0.0
	for i, ct := range contenders {
		med := make([]float64, len(s.Cases))
		lo := make([]float64, len(s.Cases))
		hi := make([]float64, len(s.Cases))
		for j, cs := range s.Cases {
			med[j], lo[j], hi[j] = math.NaN(), math.NaN(), math.NaN()
			r, ok := s.Row(cs, ct)
			if !ok {
				continue
			}
			v, ok := r.Values[m.Key]
			if !ok {
				continue
			}
			med[j], lo[j], hi[j] = v.Median, v.Min, v.Max
			maxHi = math.Max(maxHi, v.Max)
			if v.Min > 0 {
				minPos = math.Min(minPos, v.Min)
			}
		}
		g.median, g.lo, g.hi = append(g.median, med), append(g.lo, lo), append(g.hi, hi)
		g.colors = append(g.colors, colorOf(i))
	}
	if maxHi <= 0 {
		maxHi = 1
	}

	p := plot.New()
	p.Title.Text = m.Label
	p.Y.Label.Text = m.Unit
	p.NominalX(s.Cases...)
	p.X.Min, p.X.Max = -0.5, float64(len(s.Cases))-0.5
	p.Y.Max = maxHi * 1.08
	p.Y.Min = 0
	if !math.IsInf(minPos, 1) && maxHi/minPos > logScaleSpread {
		g.logY = true
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min = math.Pow(10, math.Floor(math.Log10(minPos)))
		p.Y.Max = math.Pow(10, math.Ceil(math.Log10(maxHi)))
		p.Title.Text += " (log scale)"
	}
	p.Add(plotGrid{})
	p.Add(g)

	width := vg.Points(math.Max(360, math.Min(720, float64(120*len(s.Cases)+160))))
	canvas := vgsvg.NewWith(vgsvg.UseWH(width, vg.Points(260)))
	p.Draw(draw.New(canvas))
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render chart %s/%s: %w", s.Name, m.Key, err)
	}
	return buf.Bytes(), nil
}

// contenderNames lists the contenders of s in display order.
func contenderNames(s *harness.ScenarioResult) []string {
	names := make([]string, 0, len(s.Contenders))
	for _, c := range s.Contenders {
		names = append(names, c.Name)
	}
	return names
}

// groupedBars is a gonum/plot Plotter drawing one bar per contender per
// case, with a min–max whisker. Missing values (NaN) leave a gap.
type groupedBars struct {
	cases          int
	median, lo, hi [][]float64 // [contender][case]
	colors         []color.RGBA
	logY           bool
}

// Plot implements plot.Plotter.
func (g *groupedBars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	n := len(g.median)
	if n == 0 {
		return
	}
	slot := (trX(1) - trX(0)) * 0.8
	if g.cases == 1 {
		slot = (c.Max.X - c.Min.X) * 0.8
	}
	w := slot / vg.Length(n)
	whisker := draw.LineStyle{Color: color.RGBA{0x20, 0x20, 0x20, 0xff}, Width: vg.Points(0.8)}
	for i := range g.median {
		for j, v := range g.median[i] {
			if math.IsNaN(v) || (g.logY && v <= 0) {
				continue
			}
			x := trX(float64(j)) + (vg.Length(i)-vg.Length(n-1)/2)*w
			y0, y1 := c.Min.Y, trY(v)
			half := w * 0.45
			c.FillPolygon(g.colors[i], []vg.Point{
				{X: x - half, Y: y0}, {X: x - half, Y: y1}, {X: x + half, Y: y1}, {X: x + half, Y: y0},
			})
			lo, hi := g.lo[i][j], g.hi[i][j]
			if hi > lo && (!g.logY || lo > 0) {
				ylo, yhi, capw := trY(lo), trY(hi), w*0.2
				c.StrokeLine2(whisker, x, ylo, x, yhi)
				c.StrokeLine2(whisker, x-capw, ylo, x+capw, ylo)
				c.StrokeLine2(whisker, x-capw, yhi, x+capw, yhi)
			}
		}
	}
}

// plotGrid draws horizontal grid lines at the value axis's major ticks.
type plotGrid struct{}

// Plot implements plot.Plotter.
func (plotGrid) Plot(c draw.Canvas, p *plot.Plot) {
	_, trY := p.Transforms(&c)
	line := draw.LineStyle{Color: color.Gray{Y: 225}, Width: vg.Points(0.5)}
	for _, t := range p.Y.Tick.Marker.Ticks(p.Y.Min, p.Y.Max) {
		if t.IsMinor() {
			continue
		}
		y := trY(t.Value)
		c.StrokeLine2(line, c.Min.X, y, c.Max.X, y)
	}
}
