package main

import (
	"flag"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The container files live in deploy/ (no Go there) and the repository
// root; Docker is not available to the tests, so TestDeployFiles reads them
// and checks the promises they make to an operator.

// repoFile reads a file relative to the repository root.
func repoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// configEnvNames is every environment variable cmd/dopaid reads, as its
// flag binding asks for them.
func configEnvNames() map[string]bool {
	names := map[string]bool{}
	for _, serve := range []bool{false, true} {
		var c Config
		fs := flag.NewFlagSet("names", flag.ContinueOnError)
		c.bindFlags(fs, func(k string) string { names[k] = true; return "" }, serve)
	}
	return names
}

// dockerStages splits a Dockerfile into its stages' instructions (a stage
// starts at FROM), with continuation lines joined and comments dropped.
func dockerStages(src string) [][]string {
	var (
		stages [][]string
		cur    string
	)
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		inst := strings.Join(strings.Fields(cur+trimmed), " ")
		cur = ""
		if strings.HasPrefix(strings.ToUpper(inst), "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], inst)
		}
	}
	return stages
}

// ignored reports whether a .dockerignore / .gitignore file excludes name
// (a slash-separated path from the root): the last matching pattern wins,
// "!" re-includes, "**/" matches any number of directories, and a pattern
// that matches a directory excludes what it holds. gitStyle applies git's
// rule that a pattern without an inner slash matches at any depth.
func ignored(patterns, name string, gitStyle bool) bool {
	excluded := false
	for _, p := range strings.Split(patterns, "\n") {
		p = strings.TrimSpace(p)
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		negate := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		if gitStyle && !strings.Contains(strings.Trim(p, "/"), "/") {
			p = "**/" + p
		}
		p = strings.Trim(path.Clean("/"+p), "/")
		if matchPattern(p, name) {
			excluded = !negate
		}
	}
	return excluded
}

// matchPattern matches pattern against name or any directory above it.
func matchPattern(pattern, name string) bool {
	segs := strings.Split(name, "/")
	for i := len(segs); i > 0; i-- {
		if matchSegments(strings.Split(pattern, "/"), segs[:i]) {
			return true
		}
	}
	return false
}

func matchSegments(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for i := 0; i <= len(name); i++ {
			if matchSegments(pat[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	ok, err := path.Match(pat[0], name[0])
	return ok && err == nil && matchSegments(pat[1:], name[1:])
}

func TestIgnoredMatcher(t *testing.T) {
	tests := []struct {
		patterns, name string
		git, want      bool
	}{
		{".git", ".git/config", false, true},
		{"**/*.test", "cmd/dopaid/dopaid.test", false, true},
		{"*.test", "cmd/dopaid/dopaid.test", false, false},
		{"*.test", "cmd/dopaid/dopaid.test", true, true},
		{"deploy/.env", "deploy/.env", false, true},
		{"deploy/.env", "x/deploy/.env", true, false},
		{"dopaid-data/", "dopaid-data/master.key", true, true},
		{"**/*.db\n!keep.db", "keep.db", false, false},
		{"/dopaid", "cmd/dopaid/main.go", false, false},
	}
	for _, tt := range tests {
		if got := ignored(tt.patterns, tt.name, tt.git); got != tt.want {
			t.Errorf("ignored(%q, %q, git=%v) = %v, want %v", tt.patterns, tt.name, tt.git, got, tt.want)
		}
	}
}

// TestDeployFiles: the image is built with go.mod's Go version, its data
// directory belongs to the nonroot user the server runs as, the build
// context and git leave the secrets and local data out, and compose sets
// only variables the server reads, never development mode.
func TestDeployFiles(t *testing.T) {
	gomod := repoFile(t, "go.mod")
	dockerfile := repoFile(t, "deploy/Dockerfile")
	compose := repoFile(t, "deploy/compose.yaml")
	dockerignore := repoFile(t, ".dockerignore")
	gitignore := repoFile(t, ".gitignore")

	t.Run("go version", func(t *testing.T) {
		m := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(gomod)
		if m == nil {
			t.Fatal("go.mod has no go directive")
		}
		want := m[1]
		if tm := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindStringSubmatch(gomod); tm != nil {
			want = tm[1]
		}
		images := regexp.MustCompile(`(?mi)^FROM\s+(?:--\S+\s+)*golang:(\S+)`).FindAllStringSubmatch(dockerfile, -1)
		if len(images) == 0 {
			t.Fatal("the Dockerfile builds from no golang image")
		}
		for _, im := range images {
			if tag := im[1]; tag != want && !strings.HasPrefix(tag, want+"-") {
				t.Errorf("Dockerfile builds with golang:%s, want Go %s as in go.mod", tag, want)
			}
		}
	})

	t.Run("nonroot owns the data directory", func(t *testing.T) {
		stages := dockerStages(dockerfile)
		if len(stages) == 0 {
			t.Fatal("no stages in the Dockerfile")
		}
		final := stages[len(stages)-1]
		var user, dataDir string
		for _, inst := range final {
			if v, ok := strings.CutPrefix(inst, "USER "); ok {
				user = v
			}
			if m := regexp.MustCompile(`DOPAID_DATA_DIR=(\S+)`).FindStringSubmatch(inst); m != nil && strings.HasPrefix(inst, "ENV ") {
				dataDir = path.Clean(m[1])
			}
		}
		uid := strings.Split(user, ":")[0]
		if uid != "65532" && uid != "nonroot" {
			t.Fatalf("the server runs as %q, want the distroless nonroot user (65532)", user)
		}
		if !strings.Contains(final[0], ":nonroot") {
			t.Errorf("runtime image %q is not a distroless :nonroot image (where nonroot is uid 65532)", final[0])
		}
		if dataDir == "" {
			t.Fatal("the runtime image sets no DOPAID_DATA_DIR")
		}
		// The directory must be created owned by nonroot before anything
		// (WORKDIR, VOLUME) creates it as root.
		owned := false
		for _, inst := range final {
			f := strings.Fields(inst)
			switch {
			case f[0] == "COPY" && path.Clean(f[len(f)-1]) == dataDir:
				for _, opt := range f[1 : len(f)-1] {
					if o, ok := strings.CutPrefix(opt, "--chown="); ok && (strings.Split(o, ":")[0] == "65532" || strings.Split(o, ":")[0] == "nonroot") {
						owned = true
					}
				}
			case (f[0] == "WORKDIR" || f[0] == "VOLUME") && !owned && strings.Contains(inst, dataDir):
				t.Errorf("%q creates %s as root before it is given to nonroot", inst, dataDir)
			}
		}
		if !owned {
			t.Errorf("no COPY --chown=65532 (nonroot) creates the data directory %s: the embedded SQLite store cannot be written", dataDir)
		}
	})

	t.Run("build context and git leave secrets out", func(t *testing.T) {
		for _, name := range []string{
			"deploy/.env", ".git/config", "dopaid-data/dopaid.db", "dopaid-data/master.key",
			"cmd/dopaid/dopaid-data/dopaid.db", "cmd/dopaid/dopaid.test", "dopaid.db", "dopaid",
		} {
			if !ignored(dockerignore, name, false) {
				t.Errorf(".dockerignore lets %s into the build context", name)
			}
		}
		for _, name := range []string{"go.mod", "go.sum", "cmd/dopaid/main.go", "storage/postgres/migrations/0001_init.sql", "login/templates/x.html"} {
			if ignored(dockerignore, name, false) {
				t.Errorf(".dockerignore leaves out %s, which the build needs", name)
			}
		}
		for _, name := range []string{"deploy/.env", "dopaid-data/master.key"} {
			if !ignored(gitignore, name, true) {
				t.Errorf(".gitignore does not ignore %s", name)
			}
		}
	})

	t.Run("compose sets only real settings, never development mode", func(t *testing.T) {
		names := configEnvNames()
		if !names["DOPAID_DATABASE_URL"] || !names["DOPAID_DEV"] {
			t.Fatalf("configEnvNames is broken: %v", names)
		}
		var used []string
		for _, src := range []string{compose, dockerfile} {
			for _, line := range strings.Split(src, "\n") {
				if strings.HasPrefix(strings.TrimSpace(line), "#") {
					continue
				}
				used = append(used, regexp.MustCompile(`DOPAID_[A-Z0-9_]+`).FindAllString(line, -1)...)
				if strings.Contains(line, "DOPAID_DEV") || strings.Contains(line, "--dev") {
					t.Errorf("development mode in a deploy file: %s", strings.TrimSpace(line))
				}
			}
		}
		if len(used) == 0 {
			t.Fatal("no DOPAID_ settings found in the deploy files")
		}
		slices.Sort(used)
		for _, n := range slices.Compact(used) {
			if !names[n] {
				t.Errorf("the deploy files set %s, which dopaid does not read", n)
			}
		}
	})
}
