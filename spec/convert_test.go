package spec

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/schema"
	"github.com/compose-spec/compose-go/v2/tree"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeTypes are compose-go's model types and where their fields sit in
// the compose file.
var composeTypes = []struct {
	typ  reflect.Type
	path string
}{
	{reflect.TypeFor[types.Project](), ""},
	{reflect.TypeFor[types.ServiceConfig](), "services.*"},
	{reflect.TypeFor[types.BuildConfig](), "services.*.build"},
	{reflect.TypeFor[types.DeployConfig](), "services.*.deploy"},
	{reflect.TypeFor[types.Resources](), "services.*.deploy.resources"},
	{reflect.TypeFor[types.Resource](), "services.*.deploy.resources.limits"},
	{reflect.TypeFor[types.Resource](), "services.*.deploy.resources.reservations"},
	{reflect.TypeFor[types.RestartPolicy](), "services.*.deploy.restart_policy"},
	{reflect.TypeFor[types.HealthCheckConfig](), "services.*.healthcheck"},
	{reflect.TypeFor[types.ServicePortConfig](), "services.*.ports.[]"},
	{reflect.TypeFor[types.ServiceVolumeConfig](), "services.*.volumes.[]"},
	{reflect.TypeFor[types.ServiceVolumeBind](), "services.*.volumes.[].bind"},
	{reflect.TypeFor[types.ServiceVolumeVolume](), "services.*.volumes.[].volume"},
	{reflect.TypeFor[types.ServiceVolumeTmpfs](), "services.*.volumes.[].tmpfs"},
	{reflect.TypeFor[types.ServiceNetworkConfig](), "services.*.networks.*"},
	{reflect.TypeFor[types.ServiceDependency](), "services.*.depends_on.*"},
	{reflect.TypeFor[types.FileReferenceConfig](), "services.*.secrets.[]"},
	{reflect.TypeFor[types.FileReferenceConfig](), "services.*.configs.[]"},
	{reflect.TypeFor[types.LoggingConfig](), "services.*.logging"},
	{reflect.TypeFor[types.UlimitsConfig](), "services.*.ulimits.*"},
	{reflect.TypeFor[types.EnvFile](), "services.*.env_file.[]"},
	{reflect.TypeFor[types.ExtendsConfig](), "services.*.extends"},
	{reflect.TypeFor[types.NetworkConfig](), "networks.*"},
	{reflect.TypeFor[types.IPAMConfig](), "networks.*.ipam"},
	{reflect.TypeFor[types.IPAMPool](), "networks.*.ipam.config.[]"},
	{reflect.TypeFor[types.VolumeConfig](), "volumes.*"},
	{reflect.TypeFor[types.FileObjectConfig](), "configs.*"},
	{reflect.TypeFor[types.FileObjectConfig](), "secrets.*"},
}

// notInSchema are fields of compose-go's types that the compose schema
// does not allow in a file (the loader refuses them), so no file can set
// them; each with why it exists.
var notInSchema = map[string]string{
	"services.*.name":                                      "the service's key, set by the loader",
	"services.*.net":                                       "compose v1 key, refused by the schema",
	"services.*.log_driver":                                "compose v1 key, refused by the schema",
	"services.*.log_opt":                                   "compose v1 key, refused by the schema",
	"services.*.dockerfile":                                "not a service attribute of the schema",
	"services.*.ulimits.*.single":                          "the short form of a ulimit, not a key",
	"configs.*.driver":                                     "compose-go shares the type with secrets",
	"configs.*.driver_opts":                                "compose-go shares the type with secrets",
	"secrets.*.content":                                    "set by the loader from environment",
	"services.*.deploy.resources.reservations.pids":        "compose-go shares the type with limits",
	"services.*.deploy.resources.limits.devices":           "compose-go shares the type with reservations",
	"services.*.deploy.resources.limits.generic_resources": "compose-go shares the type with reservations",
	"services.*.volume_driver":                             "compose v2 file format key, refused by the schema",
	"jobs":                                                 "",
	"models":                                               "",
}

// yamlFields lists the YAML keys of a struct type, with inline structs
// flattened; "-" and extension fields are left out.
func yamlFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		switch {
		case name == "-" || strings.HasPrefix(name, "#"):
		case name == "" && strings.Contains(opts, "inline"):
			if f.Type.Kind() == reflect.Struct {
				out = append(out, yamlFields(f.Type)...)
			}
		case name != "":
			out = append(out, name)
		}
	}
	return out
}

// classified reports whether a compose attribute is converted or in the
// unsupported table (itself or one of its parents).
func classified(p string) bool {
	m := newAttributeMatcher()
	path := tree.Path(p)
	if m.exact.Matches(path) || m.inSubtree(path) {
		return true
	}
	for q := path; q != ""; q = q.Parent() {
		if lookupUnsupported(q) != nil {
			return true
		}
	}
	return false
}

// TestEveryComposeFieldClassified fails when compose-go's types have a
// field that convert neither converts nor lists as unsupported: a newer
// compose-go must not drop an attribute silently.
func TestEveryComposeFieldClassified(t *testing.T) {
	for _, ct := range composeTypes {
		for _, name := range yamlFields(ct.typ) {
			p := name
			if ct.path != "" {
				p = ct.path + "." + name
			}
			if _, ok := notInSchema[p]; ok {
				continue
			}
			if !classified(p) {
				t.Errorf("%s.%s (%s) is neither in converted (convert.go) nor in the unsupported table (unsupported.go)", ct.typ, name, p)
			}
		}
	}
}

// TestEverySchemaAttributeClassified does the same for the compose
// specification's JSON schema, which compose-go embeds.
func TestEverySchemaAttributeClassified(t *testing.T) {
	schemaPaths := map[string]bool{}
	for _, p := range schema.AttributePaths() {
		s := strings.ReplaceAll(p.String(), "👻", ".")
		schemaPaths[s] = true
		if !classified(s) {
			t.Errorf("compose attribute %s is neither in converted (convert.go) nor in the unsupported table (unsupported.go)", s)
		}
	}
	for _, c := range converted {
		if base := strings.TrimSuffix(c, ".**"); !schemaPaths[base] {
			t.Errorf("converted lists %s, which the compose schema does not have", c)
		}
	}
	for _, u := range unsupported {
		if !schemaPaths[u.Path] {
			t.Errorf("the unsupported table lists %s, which the compose schema does not have", u.Path)
		}
	}
	for p, why := range notInSchema {
		if schemaPaths[p] && why != "" {
			t.Errorf("%s is now in the compose schema: convert it or list it as unsupported", p)
		}
	}
}

// fill sets every field of v to a non-zero value.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(0.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0))
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	}
}

// loaderOnly are converted attributes the loader consumes before convert
// sees them.
var loaderOnly = []string{"extends", "label_file"}

// TestConvertServiceUsesEveryConvertedField sets one converted field of a
// ServiceConfig at a time and checks that the Service changes: an
// attribute listed as converted is really read.
func TestConvertServiceUsesEveryConvertedField(t *testing.T) {
	zero := convertService(types.ServiceConfig{Name: "web"})
	sc := reflect.TypeFor[types.ServiceConfig]()
	var walk func(t reflect.Type, index []int)
	fields := map[string][]int{}
	walk = func(typ reflect.Type, index []int) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			idx := append(slices.Clone(index), i)
			switch {
			case name == "" && strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct:
				walk(f.Type, idx)
			case name != "" && name != "-" && !strings.HasPrefix(name, "#"):
				fields[name] = idx
			}
		}
	}
	walk(sc, nil)
	for name, idx := range fields {
		if !classified("services.*."+name) || lookupUnsupported(tree.Path("services.*."+name)) != nil ||
			slices.Contains(loaderOnly, name) || name == "name" {
			continue
		}
		if _, ok := notInSchema["services.*."+name]; ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			s := types.ServiceConfig{Name: "web"}
			f := reflect.ValueOf(&s).Elem().FieldByIndex(idx)
			fill(f)
			switch name {
			case "ports":
				s.Ports = []types.ServicePortConfig{{Target: 80, Protocol: "tcp"}}
			case "volumes":
				s.Volumes = []types.ServiceVolumeConfig{{Type: "volume", Target: "/x"}}
			case "scale":
				n := 2
				s.Scale = &n
			case "attach":
				s.Attach = new(bool)
			}
			if got := convertService(s); reflect.DeepEqual(got, zero) {
				t.Errorf("setting %s changes nothing in the converted Service", name)
			}
		})
	}
}
