package daemon

import "trellis.dev/trellis/source"

// Route is the webhook's Trigger: a push that can move ref polls the
// source at once (poll), one to another ref (the lineage branch) is
// ignored; a pull request that was opened or changed is checked at once
// (check, with its number); a closed one (maybe merged) polls the source.
// Without check (no pull-request checks configured), every pull_request
// event polls the source.
func Route(ref source.Ref, poll func(), check func(pr int)) func(Event) {
	return func(ev Event) {
		if ev.Kind == "push" && !ref.Moves(ev.Ref) {
			return
		}
		if check == nil || ev.Kind != "pull_request" {
			poll()
			return
		}
		switch ev.Action {
		case "opened", "synchronize", "reopened", "edited", "ready_for_review":
			check(ev.PR)
		case "closed":
			poll()
		}
	}
}
