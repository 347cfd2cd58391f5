package results

import (
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// palette colours the metrics of a chart, in order.
var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
}

// Charts draws one SVG per scenario with runs into dir, named <id>.svg,
// and returns the paths written.
func Charts(r *Run, dir string) ([]string, error) {
	var out []string
	for _, s := range r.Scenarios {
		if len(s.Runs) == 0 || len(s.Chart.Metrics) == 0 {
			continue
		}
		p, err := chart(&s)
		if err != nil {
			return out, fmt.Errorf("results: chart of %s: %w", s.ID, err)
		}
		path := filepath.Join(dir, s.ID+".svg")
		width := vg.Length(max(5, 1.2*float64(len(s.Runs))+2)) * vg.Inch
		if err := p.Save(width, 3.6*vg.Inch, path); err != nil {
			return out, fmt.Errorf("results: chart of %s: %w", s.ID, err)
		}
		out = append(out, path)
	}
	return out, nil
}

// chart is a grouped bar chart: one group per run, one bar per metric.
func chart(s *Scenario) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = s.Chart.Title
	p.Y.Label.Text = s.Chart.YLabel
	p.Y.Min = 0
	names := make([]string, len(s.Runs))
	for i, c := range s.Runs {
		names[i] = c.Name
	}
	n := len(s.Chart.Metrics)
	barWidth := vg.Points(min(40, 180/float64(n*max(1, len(s.Runs)/2))))
	for m, key := range s.Chart.Metrics {
		vals := make(plotter.Values, len(s.Runs))
		for i, c := range s.Runs {
			vals[i] = c.Metrics[key] // a run without the metric shows no bar
		}
		bars, err := plotter.NewBarChart(vals, barWidth)
		if err != nil {
			return nil, err
		}
		bars.LineStyle.Width = 0
		bars.Color = palette[m%len(palette)]
		bars.Offset = vg.Length(float64(m)-float64(n-1)/2) * barWidth
		p.Add(bars)
		label := key
		if m < len(s.Chart.Labels) {
			label = s.Chart.Labels[m]
		}
		if n > 1 {
			p.Legend.Add(label, bars)
		}
	}
	p.Legend.Top = true
	p.NominalX(names...)
	p.Add(plotter.NewGrid())
	return p, nil
}
