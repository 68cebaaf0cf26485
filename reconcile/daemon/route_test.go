package daemon

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"trellis.dev/trellis/source"
)

func TestRoute(t *testing.T) {
	main := source.Ref{Branch: "main"}
	tests := []struct {
		name   string
		checks bool
		ev     Event
		want   string
	}{
		{"push to the branch", true, Event{Kind: "push", Ref: "refs/heads/main"}, "poll"},
		{"push to the lineage branch", true, Event{Kind: "push", Ref: "refs/heads/trellis/lineage"}, ""},
		{"push of an unknown ref", true, Event{Kind: "push"}, "poll"},
		{"pull request opened", true, Event{Kind: "pull_request", PR: 3, Action: "opened"}, "check 3"},
		{"pull request synchronized", true, Event{Kind: "pull_request", PR: 4, Action: "synchronize"}, "check 4"},
		{"pull request ready", true, Event{Kind: "pull_request", PR: 5, Action: "ready_for_review"}, "check 5"},
		{"pull request closed", true, Event{Kind: "pull_request", PR: 3, Action: "closed"}, "poll"},
		{"pull request labeled", true, Event{Kind: "pull_request", PR: 3, Action: "labeled"}, ""},
		{"pull request without checks", false, Event{Kind: "pull_request", PR: 3, Action: "opened"}, "poll"},
		{"ping", true, Event{Kind: "ping"}, "poll"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var check func(int)
			if tt.checks {
				check = func(pr int) { got = append(got, fmt.Sprint("check ", pr)) }
			}
			Route(main, func() { got = append(got, "poll") }, check)(tt.ev)
			want := []string{}
			if tt.want != "" {
				want = []string{tt.want}
			}
			assert.Equal(t, want, append([]string{}, got...))
		})
	}
}
