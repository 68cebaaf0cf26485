package render

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// helmRepo is a repo whose kustomization clusters/dev/app renders the
// chart fixture testdata/helm/<chart>, vendored under charts/, with
// kustomization as the kustomization's text.
func helmRepo(t *testing.T, chart, kustomization string) string {
	t.Helper()
	repo := t.TempDir()
	write(t, filepath.Join(repo, "cluster.yaml"), hostileCluster)
	app := filepath.Join(repo, "clusters", "dev", "app")
	require.NoError(t, os.MkdirAll(filepath.Join(app, "charts"), 0o755))
	if chart != "" {
		require.NoError(t, os.CopyFS(filepath.Join(app, "charts", chart), os.DirFS(filepath.Join("testdata", "helm", chart))))
	}
	write(t, filepath.Join(app, "kustomization.yaml"), kustomization)
	return repo
}

const appKustomization = `namespace: ml
helmCharts:
  - name: app
    releaseName: web
    namespace: ml
    valuesFile: values-dev.yaml
    additionalValuesFiles: [values-extra.yaml]
    valuesInline: {replicas: 3}
    includeCRDs: true
`

// TestHelmChartRenders renders a vendored chart in-process, values from
// the repo merged in order, hooks and NOTES.txt left out, CRDs in when
// asked; the objects are pinned in testdata/helm/app.golden.
func TestHelmChartRenders(t *testing.T) {
	repo := helmRepo(t, "app", appKustomization)
	write(t, filepath.Join(repo, "clusters/dev/app/values-dev.yaml"), "replicas: 2\nimage: busybox:1.37\ngreeting: hi from dev\n")
	write(t, filepath.Join(repo, "clusters/dev/app/values-extra.yaml"), "greeting: hi from extra\n")
	res, err := Dir(t.Context(), repo, Options{Revision: "r1"})
	require.NoError(t, err, strings.Join(problemStrings(err, repo), "\n"))
	var c Cluster
	for _, cl := range res.Clusters {
		if cl.Name == "dev" {
			c = cl
		}
	}
	got := objectsYAML(t, c)
	golden := filepath.Join("testdata", "helm", "app.golden")
	if os.Getenv("UPDATE") != "" {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run with UPDATE=1 to create the golden file")
	assert.Equal(t, string(want), got)
	assert.Contains(t, got, "replicas: 3")             // valuesInline wins
	assert.Contains(t, got, "greeting: hi from extra") // then additionalValuesFiles
	assert.Contains(t, got, "image: busybox:1.37")     // valuesFile over the chart's values.yaml
	assert.Contains(t, got, "kind: CustomResourceDefinition")
	assert.Contains(t, got, "message of the day")
	assert.NotContains(t, got, "Installed web")
}

// TestHelmChartTgz renders the same chart from a .tgz in chartHome.
func TestHelmChartTgz(t *testing.T) {
	repo := helmRepo(t, "", "helmGlobals: {chartHome: vendor}\nhelmCharts:\n- {name: app, version: 0.1.0, releaseName: web, namespace: ml}\n")
	write(t, filepath.Join(repo, "clusters/dev/app/vendor/app-0.1.0.tgz"), string(chartArchive(t, "app", filepath.Join("testdata", "helm", "app"), nil)))
	res, err := Dir(t.Context(), repo, Options{})
	require.NoError(t, err, strings.Join(problemStrings(err, repo), "\n"))
	require.NotNil(t, sopsObject(res, "Deployment", "web-app"))
	require.NotNil(t, sopsObject(res, "ConfigMap", "web-app"))
}

// TestHelmChartHostile: a chart that reads outside itself, looks the
// cluster up, resolves names and has a hook renders inert; remote charts,
// unvendored dependencies and decompression bombs are refused at the
// helmCharts entry, with how to fix it.
func TestHelmChartHostile(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1") // a fetch would fail loudly, never reach out
	t.Run("inert", func(t *testing.T) {
		repo := helmRepo(t, "hostile", "helmCharts:\n- {name: hostile, releaseName: h, namespace: ml}\n")
		res, err := Dir(t.Context(), repo, Options{})
		require.NoError(t, err, strings.Join(problemStrings(err, repo), "\n"))
		cm := sopsObject(res, "ConfigMap", "hostile")
		require.NotNil(t, cm)
		data := cm.Object["data"].(map[string]any)
		assert.Equal(t, "", data["passwd"])
		assert.Equal(t, "", data["glob"])
		assert.Equal(t, "{}", data["lookup"])
		assert.Equal(t, "", data["dns"])
		assert.Nil(t, sopsObject(res, "Job", "hostile-hook"), "hooks are dropped")
	})
	for _, tc := range []struct {
		name, kustomization string
		setup               func(t *testing.T, app string)
		want                string
	}{
		{"remote repository", "helmCharts:\n- {name: redis, repo: https://charts.example.com, version: 1.2.3}\n", nil,
			`clusters/dev/app/kustomization.yaml:2:3: helmCharts[0]: remote chart "redis" (https://charts.example.com) is not fetched: vendor the chart into the repository (helm pull --repo https://charts.example.com redis --version 1.2.3 --untar --untardir charts), then drop repo`},
		{"OCI", "helmCharts:\n- {name: oci://ghcr.io/x/redis}\n", nil, `helmCharts[0]: remote chart "oci://ghcr.io/x/redis" (an OCI reference) is not fetched`},
		{"not vendored", "helmCharts:\n- {name: missing}\n", nil, `helmCharts[0]: chart "missing" is not in the repository: looked for the directory clusters/dev/app/charts/missing and clusters/dev/app/charts/missing.tgz`},
		{"remote dependency", "helmCharts:\n- {name: app}\n", func(t *testing.T, app string) {
			write(t, filepath.Join(app, "charts/app/Chart.yaml"), "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n- {name: redis, version: 1.0.0, repository: https://charts.example.com}\n")
		}, "helmCharts[0]: chart clusters/dev/app/charts/app: dependency redis from https://charts.example.com is not vendored under charts/: trellis fetches nothing"},
		{"bomb", "helmCharts:\n- {name: bomb}\n", func(t *testing.T, app string) {
			write(t, filepath.Join(app, "charts/bomb.tgz"), string(chartArchive(t, "bomb", "", map[string][]byte{"Chart.yaml": []byte("apiVersion: v2\nname: bomb\nversion: 1.0.0\n"), "templates/zeros.yaml": make([]byte, 64<<20)})))
		}, "helmCharts[0]: chart clusters/dev/app/charts/bomb.tgz: chart is larger than 16 MiB (unpacked), the limit for one chart"},
		{"archive escapes", "helmCharts:\n- {name: evil}\n", func(t *testing.T, app string) {
			write(t, filepath.Join(app, "charts/evil.tgz"), string(chartArchive(t, "evil", "", map[string][]byte{"../../../escape.yaml": []byte("x: 1\n")})))
		}, `is not inside the chart's directory`},
		{"unknown field", "helmCharts:\n- {name: app, postRenderer: /bin/sh}\n", nil, "helmCharts[0].postRenderer: not supported"},
		{"values file outside", "helmCharts:\n- {name: app, valuesFile: ../../../../etc/passwd}\n", nil, `helmCharts[0]: values file "../../../../etc/passwd" leaves the repository`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := helmRepo(t, "app", tc.kustomization)
			if tc.setup != nil {
				tc.setup(t, filepath.Join(repo, "clusters", "dev", "app"))
			}
			_, err := Dir(t.Context(), repo, Options{})
			require.Error(t, err)
			assert.Contains(t, strings.Join(problemStrings(err, repo), "\n"), tc.want)
		})
	}
}

// chartArchive packs the directory dir (or files) as a chart archive
// with top directory name.
func chartArchive(t testing.TB, name, dir string, files map[string][]byte) []byte {
	t.Helper()
	if dir != "" {
		files = map[string][]byte{}
		require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			files[filepath.ToSlash(rel)], err = os.ReadFile(p)
			return err
		}))
	}
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for n, data := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name + "/" + n, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}))
		_, err := tw.Write(data)
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return b.Bytes()
}

// FuzzChartArchive: unpacking a chart archive never panics, never yields
// a file outside the chart, and never holds more than the cap.
func FuzzChartArchive(f *testing.F) {
	f.Add(chartArchive(f, "app", "", map[string][]byte{"Chart.yaml": []byte("name: app\n"), "charts/sub.tgz": {0x1f, 0x8b}}))
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &helmSource{}
		files, err := s.unpack(data, "")
		if err != nil {
			return
		}
		var total int
		for _, file := range files {
			assert.False(t, leavesRepo(file.Name) || strings.HasPrefix(file.Name, "/"), file.Name)
			total += len(file.Data)
		}
		assert.LessOrEqual(t, total, helmMaxBytes)
	})
}
