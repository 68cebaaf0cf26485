package schema

import (
	"testing"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/robfig/cron/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCronMatchesArgo checks #Cron against the parser Argo Workflows
// validates CronWorkflow schedules with: robfig/cron/v3's ParseStandard
// (argo-workflows workflow/validate/validate.go, ValidateCronWorkflow).
// Every schedule is accepted by both or refused by both.
func TestCronMatchesArgo(t *testing.T) {
	s, err := Load(cuecontext.New())
	require.NoError(t, err)
	def := s.Value.LookupPath(cue.ParsePath("#Cron"))
	require.NoError(t, def.Err())
	for _, schedule := range []string{
		// accepted by Argo
		"0 3 * * *", "*/15 * * * *", "0 0 1 1 *", "0 9-17 * * 1-5", "0,30 * * * *",
		"0 3 * * MON", "0 3 * * mon", "0 3 * * Mon-Fri", "0 3 * jan,jul *", "0 3 1 Jan *",
		"0 3 ? * *", "0 3 * * ?", "0 3 * * 0", "0 3 * * 6", "0 0/5 * * *",
		"@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@annually", "@midnight",
		"@every 30m", "@every 1h30m", "@every 90s", "@every 1.5h",
		// refused by Argo
		"", "* * * *", "* * * * * *", "60 * * * *", "0 24 * * *", "0 0 32 * *", "0 0 * 13 *",
		"0 0 * * 7", "0 0 * * MONDAY", "@every", "@every 30", "@often", "daily",
		"0 0 * * 1-", "0 0 0 * *",
	} {
		_, argoErr := cron.ParseStandard(schedule)
		v := def.Unify(def.Context().CompileString(`"` + schedule + `"`))
		trellisErr := v.Validate(cue.Concrete(true))
		assert.Equal(t, argoErr == nil, trellisErr == nil,
			"%q: Argo says %v, trellis says %v", schedule, argoErr, trellisErr)
	}
	// Stricter than Argo, on purpose: a negative interval, which robfig/cron
	// rounds up to one second.
	for _, schedule := range []string{"@every -1m"} {
		_, argoErr := cron.ParseStandard(schedule)
		assert.NoError(t, argoErr, schedule)
		v := def.Unify(def.Context().CompileString(`"` + schedule + `"`))
		assert.Error(t, v.Validate(cue.Concrete(true)), schedule)
	}
}
