package qstash

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/atum/ops-console/internal/audit"
)

// ActionResult records how a run of a purge ended; a bulk retry's is
// Action(KindRetry, "result").
const ActionResult = "dlq.purge.result"

// Outcome is how one background run of a purge ended.
type Outcome struct {
	// ID is the purge.
	ID int64
	// Ran is set when this run worked on the purge and audited its
	// result; it is not when another runner had the purge, nothing was
	// left to run, or ctx ended first (the purge is then still running and
	// the next start-up resumes it).
	Ran bool
	// Info is the purge after the run (when Ran).
	Info PurgeInfo
	// Err is why the run stopped early, if it did.
	Err error
}

// Start runs a confirmed or resumed purge in the background with ctx (it
// outlives the request that started it), records its progress, and then
// audits its result once, as actor (action dlq.purge.result): its state,
// counts, API calls and time, and the error it stopped on. The channel
// gets the outcome when the run ends.
func (p *Purger) Start(ctx context.Context, id int64, actor audit.Entry) <-chan Outcome {
	return p.start(ctx, id, actor, nil)
}

// start is Start with extra audit details.
func (p *Purger) start(ctx context.Context, id int64, actor audit.Entry, extra map[string]any) <-chan Outcome {
	done := make(chan Outcome, 1)
	go func() {
		defer close(done)
		done <- p.runAudited(ctx, id, actor, extra)
	}()
	return done
}

// runAudited runs the purge and audits the run's result if it ran.
func (p *Purger) runAudited(ctx context.Context, id int64, actor audit.Entry, extra map[string]any) Outcome {
	o := Outcome{ID: id}
	ran, err := p.elect(ctx, id)
	o.Err = err
	if !ran || errors.Is(err, ErrWrongState) {
		if err != nil && !errors.Is(err, ErrWrongState) {
			p.logger().Error("purge run", "purge", id, "error", reasonOf(err))
		}
		return o
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	pi, gerr := p.get(rctx, id)
	if gerr != nil {
		p.logger().Error("purge result", "purge", id, "error", reasonOf(gerr))
		o.Err = errors.Join(err, gerr)
		return o
	}
	if pi.State == Running {
		// Stopped by a shutdown before it could record a pause: the next
		// start-up resumes it and audits the result then.
		return o
	}
	o.Ran, o.Info = true, pi
	e := actor
	e.Action, e.Target, e.Result = Action(pi.Kind, "result"), pi.Target(), audit.Success
	e.Details = map[string]any{"state": pi.State, "already_gone": pi.Gone, "failed": pi.Failed,
		"api_calls": pi.APICalls, "elapsed_ms": pi.Elapsed.Milliseconds(), "requested_by": pi.ConfirmedBy}
	if pi.Kind == KindRetry {
		e.Details["retried"], e.Details["overrides"] = pi.Retried, pi.Overrides
	} else {
		e.Details["deleted"] = pi.Deleted
	}
	if pi.ApprovedBy != "" {
		e.Details["approved_by"] = pi.ApprovedBy
	}
	for k, v := range extra {
		e.Details[k] = v
	}
	if err != nil {
		e.Result, e.Details["error"] = audit.Error, reasonOf(err)
	}
	if aerr := p.auditLog().Record(rctx, e); aerr != nil {
		p.logger().Error("audit purge result", "purge", id, "error", aerr)
		o.Err = errors.Join(o.Err, aerr)
	}
	return o
}

// ResumeInterrupted runs, at start-up, every purge a crash or restart left
// running, each as Start does (the result audited once, as the operator
// who last confirmed or resumed it, marked resumed_at_startup), and waits
// for them. Its error says the purges could not be listed (the caller
// tries again later).
func (p *Purger) ResumeInterrupted(ctx context.Context) ([]Outcome, error) {
	ids, err := p.Interrupted(ctx)
	if err != nil {
		return nil, err
	}
	outs := make([]Outcome, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		p.logger().Info("resuming an interrupted purge", "purge", id)
		actor := p.resumeActor(ctx, id)
		wg.Go(func() { outs[i] = <-p.start(ctx, id, actor, map[string]any{"resumed_at_startup": true}) })
	}
	wg.Wait()
	return outs, nil
}

// resumeActor is who a resumed purge's result is audited as: the operator
// of the purge's latest confirmation, approval or resume, else the one
// recorded as having confirmed it.
func (p *Purger) resumeActor(ctx context.Context, id int64) audit.Entry {
	var e audit.Entry
	pi, err := p.get(ctx, id)
	if err != nil {
		p.logger().Warn("who started an interrupted purge", "purge", id, "error", err)
		return e
	}
	target, prefix := pi.Target(), Action(pi.Kind, "")
	events, err := p.auditLog().List(ctx, audit.Filter{Action: prefix, Target: target, Result: audit.Intent, Limit: 100})
	if err != nil {
		p.logger().Warn("who started an interrupted purge", "purge", id, "error", err)
	}
	for _, ev := range events {
		if ev.Target == target && (ev.Action == prefix+"confirm" || ev.Action == prefix+"resume" || ev.Action == prefix+"approve") {
			e.OperatorID, e.Operator, e.Role = ev.OperatorID, ev.Operator, ev.Role
			return e
		}
	}
	e.Operator = pi.ConfirmedBy
	if pi.ApprovedBy != "" {
		e.Operator = pi.ApprovedBy
	}
	return e
}

func (p *Purger) auditLog() *audit.Log {
	if p.Audit != nil {
		return p.Audit
	}
	return audit.New(p.Pool)
}

func (p *Purger) logger() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}
