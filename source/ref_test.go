package source

import (
	"context"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"trellis.dev/trellis/test/gitserver"
)

func TestPollBranchRef(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	r.commit(t, map[string]string{"env": "main\n"}, "main")
	sha := r.Push(t, r.url, gitserver.Change{Branch: "staging", Files: map[string]string{"env": "staging\n"}})
	spec := r.spec(t)
	spec.Ref = Ref{Branch: "staging"}
	rev := mustPoll(t, mustNew(t, spec))
	assert.Equal(t, sha, rev.Commit)
	assert.Equal(t, "refs/heads/staging", rev.Ref)
	assert.Equal(t, "staging\n", readFile(t, rev.Dir, "env"))

	spec.Ref = Ref{Branch: "nope"}
	_, err := mustNew(t, spec).Poll(context.Background())
	require.ErrorContains(t, err, "refs/heads/nope not found")
}

func TestPollTagRefs(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	v1 := r.commit(t, map[string]string{"v": "1\n"}, "one")
	v2 := r.commit(t, map[string]string{"v": "2\n"}, "two")
	r.commit(t, map[string]string{"v": "3\n"}, "three")
	r.Tag(t, r.url, "light", v1)
	r.AnnotatedTag(t, r.url, "annotated", v2, "release two")

	for tag, want := range map[string]string{"light": v1, "annotated": v2} {
		spec := r.spec(t)
		spec.Ref = Ref{Tag: tag}
		s := mustNew(t, spec)
		rev := mustPoll(t, s)
		assert.Equal(t, want, rev.Commit, tag)
		assert.Equal(t, "refs/tags/"+tag, rev.Ref)
		r.ResetCounts()
		assert.False(t, mustPoll(t, s).Changed, tag)
		assert.Equal(t, map[string]int{gitserver.ListUploadPack: 1}, r.Counts(), tag)
	}
}

func TestPollSemverRange(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	tags := map[string]string{}
	for _, tag := range []string{"v1.0.0", "v1.2.0", "v2.0.0"} {
		tags[tag] = r.commit(t, map[string]string{"version": tag}, tag)
		r.Tag(t, r.url, tag, tags[tag])
	}
	r.AnnotatedTag(t, r.url, "v1.3.0-rc.1", tags["v2.0.0"], "a prerelease is not in a plain range")
	r.Tag(t, r.url, "not-a-version", tags["v2.0.0"])

	spec := r.spec(t)
	spec.Ref = Ref{SemVer: ">=1.0.0 <2.0.0"}
	s := mustNew(t, spec)
	rev := mustPoll(t, s)
	assert.Equal(t, tags["v1.2.0"], rev.Commit)
	assert.Equal(t, "refs/tags/v1.2.0", rev.Ref)
	assert.Equal(t, "v1.2.0", readFile(t, rev.Dir, "version"))

	sha := r.commit(t, map[string]string{"version": "v1.4.0"}, "v1.4.0")
	r.AnnotatedTag(t, r.url, "v1.4.0", sha, "annotated in range")
	rev = mustPoll(t, s)
	assert.True(t, rev.Changed)
	assert.Equal(t, sha, rev.Commit)
	assert.Equal(t, "refs/tags/v1.4.0", rev.Ref)

	spec.Ref = Ref{SemVer: ">=3"}
	_, err := mustNew(t, spec).Poll(context.Background())
	require.ErrorContains(t, err, `no tag matches semver range ">=3"`)
}

func TestPollCommitRef(t *testing.T) {
	for name, allow := range map[string]bool{"full fetch": false, "fetch by hash": true} {
		t.Run(name, func(t *testing.T) {
			r := newRemote(t, gitserver.Options{AllowReachableSHA1InWant: allow})
			old := r.commit(t, map[string]string{"v": "1\n"}, "one")
			r.commit(t, map[string]string{"v": "2\n"}, "two")
			spec := r.spec(t)
			mustPoll(t, mustNew(t, spec)) // leaves a shallow clone of main in the cache

			spec.Ref = Ref{Commit: old}
			s := mustNew(t, spec)
			rev := mustPoll(t, s)
			assert.Equal(t, old, rev.Commit)
			assert.Empty(t, rev.Ref)
			assert.Equal(t, "1\n", readFile(t, rev.Dir, "v"))

			r.ResetCounts()
			assert.False(t, mustPoll(t, s).Changed)
			assert.True(t, mustPoll(t, mustNew(t, spec)).Changed, "a restart reports a first poll")
			assert.Empty(t, r.Counts(), "a pinned commit needs no network once fetched")
		})
	}
}

func TestPollCommitNotOnTheRemote(t *testing.T) {
	r := newRemote(t, gitserver.Options{})
	r.commit(t, map[string]string{"v": "1\n"}, "one")
	spec := r.spec(t)
	spec.Ref = Ref{Commit: "0123456789012345678901234567890123456789"}
	_, err := mustNew(t, spec).Poll(context.Background())
	require.ErrorContains(t, err, "0123456789012345678901234567890123456789 is not on any branch or tag")
}

func TestPick(t *testing.T) {
	h := func(c byte) plumbing.Hash { return plumbing.NewHash(string(make40(c))) }
	refs := []*plumbing.Reference{
		plumbing.NewSymbolicReference("HEAD", "refs/heads/main"),
		plumbing.NewHashReference("refs/heads/main", h('1')),
		plumbing.NewHashReference("refs/tags/v1.0.0", h('2')),
		plumbing.NewHashReference("refs/tags/v1.1.0", h('3')),
		plumbing.NewHashReference("refs/tags/v1.1.0^{}", h('4')),
		plumbing.NewHashReference("refs/tags/1.1.0", h('5')),
		plumbing.NewHashReference("refs/tags/v2.0.0", h('6')),
		plumbing.NewHashReference("refs/tags/v1.5.0-rc.1", h('7')),
	}
	tests := []struct {
		ref     Ref
		name    string
		commit  plumbing.Hash
		wantErr string
	}{
		{ref: Ref{}, name: "refs/heads/main", commit: h('1')},
		{ref: Ref{Branch: "main"}, name: "refs/heads/main", commit: h('1')},
		{ref: Ref{Tag: "v1.0.0"}, name: "refs/tags/v1.0.0", commit: h('2')},
		{ref: Ref{Tag: "v1.1.0"}, name: "refs/tags/v1.1.0", commit: h('4')}, // peeled
		{ref: Ref{SemVer: "~1"}, name: "refs/tags/1.1.0", commit: h('5')},   // v1.1.0 == 1.1.0: by name
		{ref: Ref{SemVer: ">=1.0.0-0 <2.0.0"}, name: "refs/tags/v1.5.0-rc.1", commit: h('7')},
		{ref: Ref{SemVer: "^2"}, name: "refs/tags/v2.0.0", commit: h('6')},
		{ref: Ref{SemVer: ">2"}, wantErr: "no tag matches"},
		{ref: Ref{Branch: "dev"}, wantErr: "refs/heads/dev not found"},
		{ref: Ref{Tag: "v9"}, wantErr: "refs/tags/v9 not found"},
	}
	for _, tt := range tests {
		t.Run(tt.ref.String(), func(t *testing.T) {
			got, err := pick(tt.ref, refs)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, target{ref: plumbing.ReferenceName(tt.name), commit: tt.commit}, got)
		})
	}
}

func make40(c byte) []byte {
	b := make([]byte, 40)
	for i := range b {
		b[i] = c
	}
	return b
}
