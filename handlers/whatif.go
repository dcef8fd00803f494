package handlers

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/atum/ops-console/internal/neon"
	"github.com/atum/ops-console/views"
)

// whatIfInput is the what-if form, parsed.
type whatIfInput struct {
	plan         neon.Plan
	minCU, maxCU float64
}

// parseWhatIf reads the what-if form over base: every field left empty
// keeps the current value. It returns the form as entered (for
// re-display) and one message per invalid field.
func parseWhatIf(q url.Values, base neon.Plan) (whatIfInput, views.WhatIf, []string) {
	in := whatIfInput{plan: neon.Plan{Groups: append([]neon.Group(nil), base.Groups...)}}
	form := views.WhatIf{Pool: q.Get("pool"), Overflow: q.Get("overflow"), Engines: q.Get("engines"),
		MinCU: q.Get("min_cu"), MaxCU: q.Get("max_cu")}
	var errs []string
	num := func(field, label string, max int, dst *int) {
		s := strings.TrimSpace(q.Get(field))
		if s == "" {
			return
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > max {
			errs = append(errs, fmt.Sprintf("%s must be a whole number from 0 to %d (got %q)", label, max, clip(s, 20)))
			return
		}
		*dst = n
	}
	for i := range in.plan.Groups {
		g := &in.plan.Groups[i]
		form.Groups = append(form.Groups, views.WhatIfGroup{Name: g.Name,
			Machines: orDefault(q.Get("machines_"+g.Name), g.Machines), Processes: orDefault(q.Get("processes_"+g.Name), g.Processes)})
		num("machines_"+g.Name, "Machines of "+g.Name, neon.MaxMachines, &g.Machines)
		num("processes_"+g.Name, "Processes per machine of "+g.Name, neon.MaxProcesses, &g.Processes)
	}
	pool, overflow := -1, -1
	num("pool", "Pool size", neon.MaxPool, &pool)
	num("overflow", "Max overflow", neon.MaxPool, &overflow)
	for i := range in.plan.Groups {
		if pool >= 0 {
			in.plan.Groups[i].PoolSize = pool
		}
		if overflow >= 0 {
			in.plan.Groups[i].MaxOverflow = overflow
		}
	}
	engines := -1
	num("engines", "Other engines", neon.MaxEngines, &engines)
	if engines >= 0 {
		in.plan.Engines = []neon.Engine{{Name: "other engines", Connections: engines}}
	} else {
		in.plan.Engines = base.Engines
	}
	cu := func(field, label string) float64 {
		s := strings.TrimSpace(q.Get(field))
		if s == "" {
			return 0
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 0.25 || f > 56 {
			errs = append(errs, fmt.Sprintf("%s must be compute units from 0.25 to 56 (got %q)", label, clip(s, 20)))
			return 0
		}
		return f
	}
	in.minCU, in.maxCU = cu("min_cu", "Minimum compute size"), cu("max_cu", "Maximum compute size")
	if (in.minCU == 0) != (in.maxCU == 0) {
		errs = append(errs, "Give both the minimum and the maximum compute size, or neither")
	} else if in.minCU > in.maxCU {
		errs = append(errs, "The minimum compute size must not exceed the maximum")
	}
	return in, form, errs
}

func orDefault(s string, n int) string {
	if strings.TrimSpace(s) != "" {
		return clip(s, 20)
	}
	return strconv.Itoa(n)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
