package spec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
)

func TestScratch(t *testing.T) {
	cases := map[string]string{
		"yaml":      "services:\n  web:\n    image: x\n   ports: [1]\n",
		"yaml2":     "services:\n  web:\n    image: x\n    ports: [\"80\"\n",
		"unknown":   "services:\n  web:\n    image: x\n    imagee: y\n",
		"unknown2":  "services:\n  web:\n    image: x\n    build:\n      contxt: .\n",
		"toplevel":  "servics:\n  web:\n    image: x\n",
		"type":      "services:\n  web:\n    image: x\n    ports: 80\n",
		"req":       "services:\n  web:\n    image: x\n    environment:\n      - A=${FOO:?foo is required}\n",
		"badtmpl":   "services:\n  web:\n    image: ${FOO\n",
		"port":      "services:\n  web:\n    image: x\n    ports: [\"80a:80\"]\n",
		"port2":     "services:\n  web:\n    image: x\n    ports: [\"70000:80\"]\n",
		"vol":       "services:\n  web:\n    image: x\n    volumes: [\"a:b:c:d\"]\n",
		"dur":       "services:\n  web:\n    image: x\n    healthcheck:\n      interval: 5x\n",
		"extends":   "services:\n  web:\n    image: x\n    extends: nope\n",
		"extendsf":  "services:\n  web:\n    image: x\n    extends:\n      file: nope.yaml\n      service: a\n",
		"include":   "include: [nope.yaml]\nservices:\n  web:\n    image: x\n",
		"noint":     "services:\n  web:\n    image: x\n    ports: [\"${P}:80\"]\n    mem_limit: ${M}\n",
		"mem":       "services:\n  web:\n    image: x\n    mem_limit: 12zz\n",
		"dup":       "services:\n  web:\n    image: x\n    ports: [\"80:80\", \"80:80\"]\n",
		"nonstr":    "services:\n  web:\n    image: x\n    labels:\n      1: a\n",
		"cmd":       "services:\n  web:\n    image: x\n    command: \"echo 'a\"\n",
		"emptycmd":  "services:\n  web:\n    image: x\n    command: \"\"\n    entrypoint: []\n",
		"hc":        "services:\n  web:\n    image: x\n    healthcheck:\n      test: [\"FOO\"]\n",
		"ulimit":    "services:\n  web:\n    image: x\n    ulimits:\n      nofile: abc\n",
		"cpus":      "services:\n  web:\n    image: x\n    cpus: abc\n",
	}
	for name, content := range cases {
		dir := filepath.Join(t.TempDir(), "proj")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(content), 0o644)
		interp := name != "noint"
		po, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")}, cli.WithInterpolation(interp), cli.WithOsEnv)
		if err != nil {
			t.Fatal(err)
		}
		p, err := po.LoadProject(context.Background())
		if err != nil {
			fmt.Printf("%-10s ERR %T %v\n", name, err, err)
			continue
		}
		s := p.Services["web"]
		fmt.Printf("%-10s OK ports=%+v cmd=%#v ep=%#v mem=%v\n", name, s.Ports, s.Command, s.Entrypoint, s.MemLimit)
	}
}
