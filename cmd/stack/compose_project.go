package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"

	"stack/engine"
	"stack/planner"
	"stack/spec"
)

// composeProject is the project a compose verb acts on: its name, and the
// loaded compose files when there are any. Verbs that only read or act on
// what runs (ps, logs, down, stop …) work from the name alone, as
// `docker compose -p NAME down` does; they find containers by label.
type composeProject struct {
	Name string
	Spec *spec.Project // nil: no compose file, only -p
}

// loadProject resolves the project of a compose verb. With needFile, a
// compose file must be found (up, create, run, config). Without it, a
// missing file is fine when -p or COMPOSE_PROJECT_NAME names the project.
// The project's warnings are printed to stderr.
func (g *globals) loadProject(ctx context.Context, stderr io.Writer, needFile bool, services ...string) (*composeProject, error) {
	opts := g.project.options()
	opts.Services = services
	p, err := spec.Load(ctx, opts)
	if err != nil {
		name := g.project.name
		if name == "" {
			name = os.Getenv("COMPOSE_PROJECT_NAME")
		}
		if needFile || name == "" || !errors.Is(err, spec.ErrNoConfigFile) {
			return nil, err
		}
		if !spec.ValidProjectName(name) {
			return nil, fmt.Errorf("invalid project name %q: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number", name)
		}
		return &composeProject{Name: name}, nil
	}
	printWarnings(stderr, p)
	return &composeProject{Name: p.Name, Spec: p}, nil
}

// projectContainers lists the containers of project (by the compose
// project label, with a config hash), those of services only when services are given, and
// one-off (`run`) containers only when oneoff. Sorted by service, then
// container number, then name.
func projectContainers(e *engine.Engine, project string, services []string, oneoff bool) ([]*engine.Container, error) {
	cs, err := e.List(true)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	var out []*engine.Container
	for _, c := range cs {
		l := c.Config.Labels
		// Like docker compose, a container without a config hash is not
		// the project's (one made by hand with the project label).
		if l[planner.LabelProject] != project || l[planner.LabelConfigHash] == "" {
			continue
		}
		if len(want) > 0 && !want[l[planner.LabelService]] {
			continue
		}
		if !oneoff && l[planner.LabelOneoff] == planner.OneoffTrue {
			continue
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Config.Labels, out[j].Config.Labels
		if a[planner.LabelService] != b[planner.LabelService] {
			return a[planner.LabelService] < b[planner.LabelService]
		}
		na, _ := strconv.Atoi(a[planner.LabelContainerNumber])
		nb, _ := strconv.Atoi(b[planner.LabelContainerNumber])
		if na != nb {
			return na < nb
		}
		return out[i].Config.Name < out[j].Config.Name
	})
	return out, nil
}

// checkServices fails with compose's "no such service: NAME" for a name
// the project does not define (when the file is known).
func (p *composeProject) checkServices(names []string) error {
	if p.Spec == nil {
		return nil
	}
	for _, n := range names {
		if _, err := p.Spec.Service(n); err != nil {
			return err
		}
	}
	return nil
}
