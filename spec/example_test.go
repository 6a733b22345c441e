package spec_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"stack/spec"
)

// Load reads a project the way `docker compose` does: here one file in a
// directory, a variable from the environment, and the project name given
// as -p would give it.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "spec-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	compose := `
services:
  web:
    image: busybox:${TAG:-latest}
    command: httpd -f -p 80
    ports: ["8080:80"]
    depends_on:
      db: {condition: service_healthy}
  db:
    image: postgres:16
    devices: [/dev/fuse]
`
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		panic(err)
	}

	opts := spec.DefaultOptions()
	opts.WorkingDir = dir
	opts.ProjectName = "demo"
	opts.Environ = []string{"TAG=1.36"}
	p, err := spec.Load(context.Background(), opts)
	if err != nil {
		panic(err)
	}
	web, err := p.Service("web")
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Name, p.ServiceNames())
	fmt.Println(web.Image, web.Command, web.Replicas)
	fmt.Printf("%s:%s -> %d/%s\n", web.Ports[0].HostIP, web.Ports[0].Published, web.Ports[0].Target, web.Ports[0].Protocol)
	fmt.Println(web.DependsOn[0].Service, web.DependsOn[0].Condition)
	fmt.Println(web.Networks[0].Key, "=", p.Networks[0].Name)
	fmt.Println(p.Warnings)
	// Output:
	// demo [db web]
	// busybox:1.36 [httpd -f -p 80] 1
	// :8080 -> 80/tcp
	// db service_healthy
	// default = demo_default
	// [compose.yaml: services.db.devices: not supported by stack yet, ignored]
}

// An error names the file, the service and the field.
func ExampleError() {
	dir, err := os.MkdirTemp("", "spec-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	compose := "services:\n  web:\n    image: busybox\n    depends_on: [db]\n"
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644); err != nil {
		panic(err)
	}
	opts := spec.DefaultOptions()
	opts.WorkingDir = dir
	opts.ProjectName = "demo"
	_, err = spec.Load(context.Background(), opts)
	fmt.Println(err)
	// Output:
	// compose.yaml: services.web.depends_on.db: service "db" is not defined
}
