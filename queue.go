package rip

import (
	"context"
	"fmt"
	"regexp"
)

// Job is one unit of background work, as a handler sees it.
type Job struct {
	ID          int64
	Type        string
	Payload     []byte // JSON
	Attempt     int    // 1 on the first run
	MaxAttempts int
}

// JobFunc runs one job. Returning nil completes it; an error retries it
// with backoff until max attempts, unless it is permanent.
type JobFunc func(ctx context.Context, j *Job) error

var jobTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)

// HandleJob registers fn for jobs of type name. A duplicate name, a
// malformed one, or registration after Run panics.
func (a *App) HandleJob(name string, fn JobFunc) {
	a.mustNotBeStarted(fmt.Sprintf("HandleJob(%q)", name))
	if !jobTypeRE.MatchString(name) {
		panic(fmt.Sprintf("rip: job type %q must match %s", name, jobTypeRE))
	}
	if _, dup := a.jobs[name]; dup {
		panic(fmt.Sprintf("rip: duplicate job %q", name))
	}
	a.jobs[name] = fn
}
