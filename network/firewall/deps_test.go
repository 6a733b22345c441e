package firewall

import (
	"testing"

	"stack/deptest"
)

var badImports = map[string]string{
	"os/exec": "no nft or iptables binary: rules go over netlink",
}

var badDeps = map[string]string{
	"stack/engine":                   "the firewall knows addresses and ports, not containers",
	"github.com/coreos/go-iptables":  "nftables only: iptables is not installed on these machines",
	"sigs.k8s.io/knftables":          "it runs the nft binary, which is not installed",
	"github.com/vishvananda/netlink": "links are package link's: this package only writes rules",
}

func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{BadImports: badImports, BadDeps: badDeps})
}
