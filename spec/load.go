package spec

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// Options say which project to load and how, with the meaning of docker
// compose's global flags. Start from DefaultOptions: the zero value has no
// environment and does not interpolate.
type Options struct {
	// WorkingDir is the directory relative paths in the other options are
	// resolved against, and where file discovery starts. "" means the
	// process's working directory.
	WorkingDir string
	// ConfigFiles are the -f files, merged in order; "-" is Stdin. Empty
	// means COMPOSE_FILE (split on COMPOSE_PATH_SEPARATOR, default ':'),
	// else discovery: compose.yaml, compose.yml, docker-compose.yml or
	// docker-compose.yaml in the project directory (or WorkingDir) or the
	// nearest parent that has one, plus the compose.override.yml,
	// compose.override.yaml, docker-compose.override.yml or
	// docker-compose.override.yaml next to it.
	ConfigFiles []string
	// ProjectName is -p. It is validated, not normalised: a name that
	// ValidProjectName refuses is an error, as in docker compose. Empty
	// means COMPOSE_PROJECT_NAME, else the top-level name:, else the
	// project directory's base name, normalised.
	ProjectName string
	// ProjectDir is --project-directory; "" means the directory of the
	// first compose file.
	ProjectDir string
	// EnvFiles are the --env-file files, read for interpolation. Empty
	// means COMPOSE_ENV_FILES (comma-separated), else the project
	// directory's .env if there is one (unless COMPOSE_DISABLE_ENV_FILE).
	EnvFiles []string
	// Profiles are the --profile values; "*" enables every service. Empty
	// means COMPOSE_PROFILES (comma-separated).
	Profiles []string
	// Services are services named on the command line (`stack up web`).
	// As in docker compose, naming a service its profiles do not enable
	// enables it, and activates its profiles. It does not restrict the
	// project: Project.WithServices does.
	Services []string
	// Environ is the process environment as "KEY=VALUE" (os.Environ());
	// nil means none. It is used for interpolation and wins over env files.
	Environ []string
	// Stdin is read for the "-" compose file.
	Stdin io.Reader
	// Interpolate replaces ${VAR} in the files. Only `stack config
	// --no-interpolate` turns it off.
	Interpolate bool
}

// DefaultOptions returns the options of a plain `stack` command: the
// process's working directory, environment and standard input, with
// interpolation.
func DefaultOptions() Options {
	wd, _ := os.Getwd()
	return Options{WorkingDir: wd, Environ: os.Environ(), Stdin: os.Stdin, Interpolate: true}
}

// Load loads the compose project opts describe. Errors are *Error when they
// concern a compose file (they name the file, service and field); problems
// that do not stop the load are in Project.Warnings. Load reads files and
// nothing else: it does not look at containers, images or networks.
func Load(ctx context.Context, opts Options) (*Project, error) {
	var p *Project
	var l *locator
	logged, err := captureWarnings(func() error {
		var err error
		p, l, err = load(ctx, opts)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Load reports an obsolete version: itself, for every load (compose-go
	// warns once per file and process)
	logged = slices.DeleteFunc(logged, func(m string) bool { return strings.Contains(m, "the attribute `version` is obsolete") })
	for i, m := range logged {
		logged[i] = l.placeUnset(m)
	}
	p.Warnings = append(logged, p.Warnings...)
	return p, nil
}

var reUnset = regexp.MustCompile(`^The "(\w+)" variable is not set\. Defaulting to a blank string\.$`)

// placeUnset names the file and the attribute in compose-go's warning
// about a variable that is not set, when a top-level file uses it.
func (l *locator) placeUnset(msg string) string {
	m := reUnset.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	use := regexp.MustCompile(`(^|[^$])\$(\{` + m[1] + `\}|` + m[1] + `\b)`)
	e := l.find(func(_ []string, v any) error {
		if s, ok := v.(string); ok && use.MatchString(s) {
			return errors.New("")
		}
		return nil
	})
	if e == nil {
		return msg
	}
	return fmt.Sprintf("%s: %s: variable %s is not set, an empty string is used", e.File, e.Location(), m[1])
}

// envVar reads one variable of an environment list.
func envVar(environ []string, key string) (string, bool) {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

func load(ctx context.Context, opts Options) (*Project, *locator, error) {
	cwd := opts.WorkingDir
	if cwd == "" {
		var err error
		if cwd, err = os.Getwd(); err != nil {
			return nil, nil, err
		}
	}
	cwd, err := filepath.Abs(cwd)
	if err != nil {
		return nil, nil, err
	}
	// compose-go resolves relative paths against the process's directory;
	// resolve them against ours first.
	abs := func(p string) string {
		if p == "" || p == "-" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(cwd, p)
	}
	files := make([]string, len(opts.ConfigFiles))
	for i, f := range opts.ConfigFiles {
		files[i] = abs(f)
	}
	projectDir := abs(opts.ProjectDir)
	environ := slices.Clone(opts.Environ)
	if _, ok := envVar(environ, "PWD"); !ok {
		// docker compose adds PWD when the shell did not export it
		environ = append(environ, "PWD="+cwd)
	}
	envFiles := opts.EnvFiles
	if len(envFiles) == 0 {
		if v, _ := envVar(environ, "COMPOSE_ENV_FILES"); v != "" {
			envFiles = strings.FieldsFunc(v, func(r rune) bool { return r == ',' })
		}
	}
	envFiles = slices.Clone(envFiles)
	for i, f := range envFiles {
		envFiles[i] = abs(f)
	}
	// cli.WithEnvFiles reads COMPOSE_DISABLE_ENV_FILE from the process;
	// honour Options.Environ's instead.
	disableDotEnv := false
	if v, ok := envVar(environ, "COMPOSE_DISABLE_ENV_FILE"); ok {
		disableDotEnv, _ = strconv.ParseBool(v)
	}
	withEnvFiles := func(o *cli.ProjectOptions) error {
		if len(envFiles) == 0 && disableDotEnv {
			return nil
		}
		return cli.WithEnvFiles(envFiles...)(o)
	}

	// The same sequence as docker compose (cmd/compose/compose.go
	// toProjectOptions): .env of the current directory first, so that it
	// may set COMPOSE_FILE; then the files; then .env of the project
	// directory; then profiles and name. While the files are not known,
	// the working directory stands for the current one (compose-go would
	// call os.Getwd).
	po, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(cmp.Or(projectDir, cwd)),
		cli.WithEnv(environ),
		withEnvFiles,
		cli.WithDotEnv,
		withConfigFileEnv(cwd),
		cli.WithDefaultConfigPath,
		func(o *cli.ProjectOptions) error {
			o.WorkingDir = projectDir
			if projectDir == "" && !slices.ContainsFunc(o.ConfigPaths, func(p string) bool { return p != "-" }) {
				o.WorkingDir = cwd // only stdin: compose uses the current directory
			}
			return nil
		},
		withEnvFiles,
		cli.WithDotEnv,
		cli.WithName(opts.ProjectName),
	)
	if err != nil {
		return nil, nil, err
	}
	if v := po.Environment["COMPOSE_PROJECT_NAME"]; po.Name == "" && v != "" && !ValidProjectName(v) {
		return nil, nil, fmt.Errorf("COMPOSE_PROJECT_NAME: %w", loader.InvalidProjectNameErr(v))
	}
	if len(po.ConfigPaths) == 0 {
		return nil, nil, fmt.Errorf("%w: not found (looked for %s in %s and its parents)", ErrNoConfigFile,
			strings.Join(cli.DefaultFileNames, ", "), cmp.Or(projectDir, cwd))
	}
	workingDir, err := po.GetWorkingDir()
	if err != nil {
		return nil, nil, err
	}
	l := &locator{workingDir: workingDir, env: po.Environment}

	details := types.ConfigDetails{WorkingDir: workingDir, Environment: po.Environment}
	for _, f := range po.ConfigPaths {
		var b []byte
		if f == "-" {
			if opts.Stdin == nil {
				return nil, nil, &Error{File: stdinName, Err: errors.New("no standard input to read")}
			}
			b, err = io.ReadAll(opts.Stdin)
		} else {
			b, err = os.ReadFile(f)
		}
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, nil, &Error{File: l.rel(f), Err: err}
		}
		details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{Filename: f, Content: b})
		l.files = append(l.files, rawFile{name: f, content: b})
	}

	if po.Name == "" && po.Environment["COMPOSE_PROJECT_NAME"] == "" && !namedInFiles(details.ConfigFiles) &&
		NormalizeProjectName(filepath.Base(workingDir)) == "" {
		return nil, nil, fmt.Errorf("no project name: the directory name %q has no letter or digit to make one from; use -p or name:", filepath.Base(workingDir))
	}

	profiles := opts.Profiles
	if len(profiles) == 0 {
		for _, s := range strings.Split(po.Environment["COMPOSE_PROFILES"], ",") {
			if s = strings.TrimSpace(s); s != "" {
				profiles = append(profiles, s)
			}
		}
	}

	loadOpts := []func(*loader.Options){func(o *loader.Options) {
		o.SkipInterpolation = !opts.Interpolate
		// consistency is checked by validate, which names file, service
		// and field, and leaves dependency cycles to the planner
		o.SkipConsistencyCheck = true
		// env_file and label_file are read service by service below, so
		// that an error names the service
		o.SkipResolveEnvironment = true
		o.SkipResolveLabels = true
		o.Profiles = profiles
		setProjectName(o, po, workingDir, details.ConfigFiles)
	}}
	model, err := loader.LoadModelWithContext(ctx, details, loadOpts...)
	if err != nil {
		return nil, nil, l.loadError(err, opts.Interpolate)
	}
	findings := findUnsupported(model)
	lo := loader.ToOptions(&details, loadOpts)
	if name, ok := model["name"].(string); ok {
		lo.SetProjectName(name, true)
	}
	cp, err := loader.ModelToProject(model, lo, details)
	if err != nil {
		return nil, nil, l.loadError(err, opts.Interpolate)
	}
	cp.ComposeFiles = po.ConfigPaths
	if cp, err = cp.WithServicesEnabled(opts.Services...); err != nil {
		return nil, nil, err
	}

	var warnings []string
	if cp, warnings, err = validate(cp, l); err != nil {
		return nil, nil, err
	}
	cp = cp.WithoutUnnecessaryResources()
	if cp, err = resolveFiles(cp, l); err != nil {
		return nil, nil, err
	}
	p := convert(cp, l)
	p.EnvFiles = po.EnvFiles
	p.uninterpolated = !opts.Interpolate
	p.Warnings = slices.Concat(warnings, p.Warnings, l.warnings(findings, cp))
	return p, l, nil
}

// withConfigFileEnv is cli.WithConfigFileEnv with COMPOSE_FILE's relative
// entries taken relative to cwd rather than to the process's directory.
func withConfigFileEnv(cwd string) cli.ProjectOptionsFn {
	return func(o *cli.ProjectOptions) error {
		v := o.Environment["COMPOSE_FILE"]
		if v == "" || len(o.ConfigPaths) > 0 {
			return nil // an empty COMPOSE_FILE is unset, not the current directory
		}
		sep := cmp.Or(o.Environment["COMPOSE_PATH_SEPARATOR"], string(os.PathListSeparator))
		entries := strings.Split(v, sep)
		for i, e := range entries {
			if e != "" && e != "-" && !filepath.IsAbs(e) {
				entries[i] = filepath.Join(cwd, e)
			}
		}
		o.Environment["COMPOSE_FILE"] = strings.Join(entries, sep)
		defer func() { o.Environment["COMPOSE_FILE"] = v }()
		return cli.WithConfigFileEnv(o)
	}
}

// setProjectName applies docker compose's precedence for the project name
// (compose-go cli's withNamePrecedenceLoad, which is not exported): -p,
// then COMPOSE_PROJECT_NAME (both validated, not normalised), then name: in
// the files (the loader reads it), then the project directory's name.
func setProjectName(o *loader.Options, po *cli.ProjectOptions, workingDir string, files []types.ConfigFile) {
	switch {
	case po.Name != "":
		o.SetProjectName(po.Name, true)
	case po.Environment["COMPOSE_PROJECT_NAME"] != "":
		o.SetProjectName(po.Environment["COMPOSE_PROJECT_NAME"], true)
	case !namedInFiles(files):
		o.SetProjectName(NormalizeProjectName(filepath.Base(workingDir)), false)
	}
}

func namedInFiles(files []types.ConfigFile) bool {
	for _, f := range files {
		var doc struct {
			Name string `yaml:"name"`
		}
		// a file that does not parse is reported by the loader
		if yaml.Unmarshal(f.Content, &doc) == nil && doc.Name != "" {
			return true
		}
	}
	return false
}

// resolveFiles reads the services' env_file and label_file entries into
// their environment and labels, one service at a time so that an error
// names the service.
func resolveFiles(p *types.Project, l *locator) (*types.Project, error) {
	services := types.Services{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		for i, f := range s.EnvFiles {
			if !f.Required {
				continue
			}
			if _, err := os.Stat(f.Path); errors.Is(err, fs.ErrNotExist) {
				return nil, l.errorf(name, fmt.Sprintf("env_file[%d]", i), "env file %s not found (set required: false to make it optional)", l.rel(f.Path))
			}
		}
		one := &types.Project{Name: p.Name, WorkingDir: p.WorkingDir, Environment: p.Environment, Services: types.Services{name: s}}
		one, err := one.WithServicesEnvironmentResolved(false)
		if err != nil {
			field := "env_file"
			msg := err.Error()
			for i, f := range s.EnvFiles {
				if strings.Contains(msg, f.Path) {
					field = fmt.Sprintf("env_file[%d]", i)
					msg = strings.ReplaceAll(msg, f.Path, l.rel(f.Path))
				}
			}
			return nil, l.wrap(name, field, errors.New(msg))
		}
		one, err = one.WithServicesLabelsResolved(false)
		if err != nil {
			return nil, l.wrap(name, "label_file", err)
		}
		services[name] = one.Services[name]
	}
	p.Services = services
	return p, nil
}

// stdinName stands for the "-" compose file in messages.
const stdinName = "<stdin>"

// rawFile is a top-level compose file as read, for locating errors and
// attributes in it.
type rawFile struct {
	name    string // absolute, or "-"
	content []byte
	parsed  bool
	tree    any
}

// locator finds which compose file holds a path, to name it in errors and
// warnings. Included and extended files are not searched: a path found in
// none of the top-level files is attributed to the first one.
type locator struct {
	workingDir string
	env        map[string]string // the interpolation environment
	files      []rawFile
}

// rel names a file for a message: relative to the project directory when
// it is below it.
func (l *locator) rel(name string) string {
	if name == "-" {
		return stdinName
	}
	if r, err := filepath.Rel(l.workingDir, name); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return name
}

func (l *locator) tree(i int) any {
	f := &l.files[i]
	if !f.parsed {
		f.parsed = true
		dec := yaml.NewDecoder(bytes.NewReader(f.content))
		var v any
		if dec.Decode(&v) == nil {
			f.tree = v
		}
	}
	return f.tree
}

// fileOf returns the name of the last top-level file (the one whose value
// wins) that has path, else that has its longest prefix, else of the first
// file.
func (l *locator) fileOf(path ...string) string {
	if len(l.files) == 0 {
		return ""
	}
	for n := len(path); n > 0; n-- {
		for i := len(l.files) - 1; i >= 0; i-- {
			if hasPath(l.tree(i), path[:n]) {
				return l.rel(l.files[i].name)
			}
		}
	}
	return l.rel(l.files[0].name)
}

func hasPath(v any, path []string) bool {
	for _, k := range path {
		switch t := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = t[k]; !ok {
				return false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(t) {
				return false
			}
			v = t[i]
		default:
			return false
		}
	}
	return true
}

// ErrNoConfigFile is returned by Load when no compose file was given and
// none was found: verbs that can work from a project name alone (down, ps,
// logs with -p) test for it.
var ErrNoConfigFile = errors.New("no configuration file provided")
