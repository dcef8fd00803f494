package rediscache

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Figures are what the Cache screen and the cache alert rules read from
// the console's database, read once per view or evaluation. Each part
// carries its own error so that one failing query hides only its part.
type Figures struct {
	// PerDay is Redis's commands per day projected from the samples of
	// the last Span.
	PerDay    int64
	Span      time.Duration
	PerDayErr error
	// Instances are the platform instances seen in the last hour.
	Instances    []Instance
	InstancesErr error
	// Recent and Before are each instance's Redis commands per minute over
	// the last 5 minutes and over the hour before them.
	Recent, Before map[string]float64
	RatesErr       error
}

// ReadFigures reads the Figures at now.
func ReadFigures(ctx context.Context, pool *pgxpool.Pool, now time.Time) Figures {
	var f Figures
	f.PerDay, f.Span, f.PerDayErr = CommandsPerDay(ctx, pool, now)
	f.Instances, f.InstancesErr = Instances(ctx, pool, now.Add(-time.Hour))
	f.Recent, f.Before, f.RatesErr = CommandRates(ctx, pool, now)
	return f
}

// Groups maps each instance to its process group.
func (f Figures) Groups() map[string]string {
	groups := map[string]string{}
	for _, i := range f.Instances {
		groups[i.ID] = i.Group
	}
	return groups
}

// JumpOf reports whether the instance's Redis commands jumped against its
// baseline, and the baseline (per minute) with what it was measured
// against, in words.
func (f Figures) JumpOf(id string, groups map[string]string) (base float64, against string, jumped bool) {
	base, from, ok := Baseline(id, f.Recent, f.Before, groups)
	if !ok || !Jump(f.Recent[id], base) {
		return 0, "", false
	}
	return base, baselineText(from), true
}

// baselineText says what a jump was measured against.
func baselineText(from string) string {
	switch from {
	case "own":
		return "its own rate in the hour before"
	case "group":
		return "the median of its process group, it has no history yet"
	}
	return "the fleet's median, it has no history yet"
}

// CommandRates returns each instance's Redis commands per minute over the
// last 5 minutes and over the hour before them.
func CommandRates(ctx context.Context, pool *pgxpool.Pool, now time.Time) (recent, before map[string]float64, err error) {
	r, err := Deltas(ctx, pool, now.Add(-5*time.Minute), now)
	if err != nil {
		return nil, nil, err
	}
	b, err := Deltas(ctx, pool, now.Add(-65*time.Minute), now.Add(-5*time.Minute))
	if err != nil {
		return nil, nil, err
	}
	recent, before = map[string]float64{}, map[string]float64{}
	for id, c := range r {
		recent[id] = float64(c.RedisCommands) / 5
	}
	for id, c := range b {
		before[id] = float64(c.RedisCommands) / 60
	}
	return recent, before, nil
}
