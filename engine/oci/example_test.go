package oci_test

import (
	"errors"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"stack/engine/errdefs"
	"stack/engine/oci"
)

// A compose service as reconciler/live would turn it into a spec:
//
//	services:
//	  db:
//	    image: postgres:16          # ENTRYPOINT docker-entrypoint.sh, CMD postgres
//	    command: ["postgres", "-c", "max_connections=200"]
//	    user: postgres
//	    environment: [POSTGRES_PASSWORD=secret]
//	    shm_size: 256m
//	    cap_drop: [NET_RAW]
//	    mem_limit: 1g
//	    cpus: "1.5"
//	    volumes: [db-data:/var/lib/postgresql/data]
func Example_new() {
	shm, _ := oci.ParseMemory("256m")
	mem, _ := oci.ParseMemory("1g")
	cpus, _ := oci.ParseCPUs("1.5")

	s, err := oci.New(
		oci.WithProcessArgs(nil, []string{"postgres", "-c", "max_connections=200"},
			[]string{"docker-entrypoint.sh"}, []string{"postgres"}),
		oci.WithHostname("3f2a9c1d0b7e"),
		oci.WithEnv(
			[]string{"PATH=/usr/lib/postgresql/16/bin:" + oci.DefaultPath, "PGDATA=/var/lib/postgresql/data"},
			[]string{"POSTGRES_PASSWORD=secret"}),
		oci.WithUser("postgres"),
		oci.WithWorkdir(""),
		oci.WithCapDrop([]string{"NET_RAW"}),
		oci.WithShmSize(shm),
		oci.WithMemory(mem, 0, 0),
		oci.WithCPUs(cpus),
		oci.WithMounts([]specs.Mount{{
			Destination: "/var/lib/postgresql/data", Type: "bind",
			Source: "/var/lib/stack/volumes/demo_db-data/_data", Options: []string{"rbind", "rw"},
		}}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	p := s.Process
	fmt.Println("args:", strings.Join(p.Args, " "))
	fmt.Println("user:", p.User.Username, "cwd:", p.Cwd)
	for _, e := range p.Env {
		fmt.Println("env:", e)
	}
	fmt.Println("caps:", len(p.Capabilities.Effective), "(no NET_RAW)")
	fmt.Printf("rlimit: %s %d:%d\n", p.Rlimits[0].Type, p.Rlimits[0].Soft, p.Rlimits[0].Hard)
	for _, m := range s.Mounts {
		fmt.Println("mount:", m.Destination, m.Type, strings.Join(m.Options, ","))
	}
	r := s.Linux.Resources
	fmt.Println("memory:", *r.Memory.Limit, "swap:", *r.Memory.Swap)
	fmt.Println("cpu quota/period:", *r.CPU.Quota, *r.CPU.Period)

	// Errors quote the bad value and match errdefs.ErrInvalid.
	_, err = oci.New(oci.WithSysctls(map[string]string{"vm.overcommit_memory": "1"}))
	fmt.Println(err, errors.Is(err, errdefs.ErrInvalid))

	// Output:
	// args: docker-entrypoint.sh postgres -c max_connections=200
	// user: postgres cwd: /
	// env: PATH=/usr/lib/postgresql/16/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
	// env: HOSTNAME=3f2a9c1d0b7e
	// env: PGDATA=/var/lib/postgresql/data
	// env: POSTGRES_PASSWORD=secret
	// caps: 13 (no NET_RAW)
	// rlimit: RLIMIT_NOFILE 1024:524288
	// mount: /proc proc nosuid,noexec,nodev
	// mount: /dev tmpfs nosuid,strictatime,mode=755,size=65536k
	// mount: /dev/pts devpts nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5
	// mount: /sys sysfs nosuid,noexec,nodev,ro
	// mount: /sys/fs/cgroup cgroup ro,nosuid,noexec,nodev
	// mount: /dev/mqueue mqueue nosuid,noexec,nodev
	// mount: /dev/shm tmpfs nosuid,noexec,nodev,mode=1777,size=268435456
	// mount: /var/lib/postgresql/data bind rbind,rw
	// memory: 1073741824 swap: 2147483648
	// cpu quota/period: 150000 100000
	// sysctl "vm.overcommit_memory" is not allowed in a container true
}

// Compose bundles options, here the pieces of `docker run --cap-drop ALL
// --cap-add NET_BIND_SERVICE --security-opt no-new-privileges --read-only`.
func ExampleCompose() {
	hardened := oci.Compose(
		oci.WithCapabilities([]string{"net_bind_service"}, []string{"all"}),
		oci.WithSecurityOpts([]string{"no-new-privileges"}),
		oci.WithReadonlyRootfs(true),
	)
	s, err := oci.New(oci.WithProcessArgs(nil, []string{"nginx"}, nil, nil), hardened)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Process.Capabilities.Effective, s.Process.NoNewPrivileges, s.Root.Readonly)
	// Output:
	// [CAP_NET_BIND_SERVICE] true true
}

func ExampleParseSignal() {
	for _, in := range []string{"SIGTERM", "quit", "9", "SIGRTMIN+3", "SIGNOPE"} {
		sig, err := oci.ParseSignal(in)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(in, "=", int(sig))
	}
	// Output:
	// SIGTERM = 15
	// quit = 3
	// 9 = 9
	// SIGRTMIN+3 = 37
	// unknown signal "SIGNOPE"
}
