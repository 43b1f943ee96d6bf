package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ripkit/rip"
)

// maxJobPayloadArg caps the PAYLOAD_JSON argument before it is parsed;
// the library enforces its own 64 KiB limit on the encoded payload.
const maxJobPayloadArg = 1 << 20

func jobListFlags(fs *flag.FlagSet) {
	fs.String("status", "", "only jobs with this status: pending, running, completed or failed")
	fs.String("type", "", "only jobs of this type")
	fs.Int("limit", 50, "at most this many jobs")
	fs.Bool("json", false, "print JSON")
}

func jobAddFlags(fs *flag.FlagSet) {
	fs.String("unique-key", "", "refuse the job while a live job holds this key")
	fs.String("at", "", "due time, RFC 3339 (default: now)")
	fs.Int("max-attempts", 0, "runs before the job fails (default: jobs.max_attempts)")
	fs.Int("priority", 0, "-5 to 5; higher runs first")
	fs.Duration("every", 0, "make the job recurrent with this interval (e.g. 1h)")
}

// usageErr turns the library's spec validation into a usage error: the
// arguments were wrong, not the data directory.
func usageErr(err error) error {
	if errors.Is(err, rip.ErrInvalidJob) {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return err
}

func jobList(e *env, fs *flag.FlagSet, args []string) error {
	if err := wantArgs(args, 0); err != nil {
		return err
	}
	limit, _ := strconv.Atoi(str(fs, "limit"))
	if limit < 1 {
		return fmt.Errorf("%w: --limit must be positive, got %d", errUsage, limit)
	}
	switch s := str(fs, "status"); s {
	case "", "pending", "running", "completed", "failed":
	default:
		return fmt.Errorf("%w: --status must be pending, running, completed or failed, got %q", errUsage, s)
	}
	if err := e.open(false); err != nil {
		return err
	}
	jobs, err := e.admin.ListJobs(e.ctx, str(fs, "status"), str(fs, "type"), limit)
	if err != nil {
		return usageErr(err)
	}
	if boolean(fs, "json") {
		if jobs == nil {
			jobs = []rip.JobRecord{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(jobs)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tSTATUS\tATTEMPTS\tSCHEDULED\tKEY\tLAST ERROR")
	for _, j := range jobs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d/%d\t%s\t%s\t%s\n", j.ID, j.Type, j.Status, j.Attempts, j.MaxAttempts,
			j.ScheduledFor.Format(time.RFC3339), j.UniqueKey, oneLine(j.LastError, 80))
	}
	return tw.Flush()
}

// oneLine flattens s to one line of at most n runes for the table.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func jobAdd(e *env, fs *flag.FlagSet, args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return fmt.Errorf("%w: want TYPE and an optional PAYLOAD_JSON, got %d argument(s)", errUsage, len(args))
	}
	spec := rip.JobSpec{Type: args[0], UniqueKey: str(fs, "unique-key")}
	if len(args) == 2 {
		if len(args[1]) > maxJobPayloadArg || !json.Valid([]byte(args[1])) {
			return fmt.Errorf("%w: PAYLOAD_JSON is not valid JSON (at most %d bytes): %.60q", errUsage, maxJobPayloadArg, args[1])
		}
		spec.Payload = json.RawMessage(args[1])
	}
	if at := str(fs, "at"); at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return fmt.Errorf("%w: --at must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got %q", errUsage, at)
		}
		spec.At = t
	}
	spec.MaxAttempts, _ = strconv.Atoi(str(fs, "max-attempts"))
	if spec.MaxAttempts < 0 {
		return fmt.Errorf("%w: --max-attempts must not be negative, got %d", errUsage, spec.MaxAttempts)
	}
	spec.Priority, _ = strconv.Atoi(str(fs, "priority"))
	spec.Interval, _ = time.ParseDuration(str(fs, "every"))
	if err := e.open(false); err != nil {
		return err
	}
	id, err := e.admin.AddJob(e.ctx, spec)
	if errors.Is(err, rip.ErrJobExists) {
		return fmt.Errorf("not added: a live job (%d) holds unique key %q", id, spec.UniqueKey)
	}
	if err != nil {
		return usageErr(err)
	}
	fmt.Fprintf(e.stdout, "added job %d\n", id)
	return nil
}

// jobID parses the ID argument.
func jobID(args []string) (int64, error) {
	if err := wantArgs(args, 1); err != nil {
		return 0, err
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("%w: ID must be a positive number, got %q", errUsage, args[0])
	}
	return id, nil
}

func jobRemove(e *env, fs *flag.FlagSet, args []string) error {
	id, err := jobID(args)
	if err != nil {
		return err
	}
	if err := e.open(false); err != nil {
		return err
	}
	if err := e.admin.RemoveJob(e.ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "removed job %d\n", id)
	return nil
}

func jobRetry(e *env, fs *flag.FlagSet, args []string) error {
	id, err := jobID(args)
	if err != nil {
		return err
	}
	if err := e.open(false); err != nil {
		return err
	}
	if err := e.admin.RetryJob(e.ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "job %d is pending again\n", id)
	return nil
}
