package dns

import (
	"testing"

	"stack/deptest"
)

// dns is a leaf: the shim imports it, so it must not reach back into the
// layers above, and it runs in every container's shim, so it links little:
// each package's init code and data cost page faults at every container
// start, and memory in every shim.
var badDeps = map[string]string{
	"stack/engine":     "the shim imports dns; dns must not import the engine",
	"stack/reconciler": "dns knows records, not plans",
	"stack/planner":    "dns knows records, not plans",
	"stack/spec":       "dns knows records, not compose files",

	"github.com/miekg/dns": "its DNSSEC and TSIG code links crypto/x509, crypto/tls and math/big, and its init builds type maps, in every shim; the server reads and writes the wire format itself (tests may use it as a client)",
	"crypto/x509":          "certificate parsing (and math/big, asn1, rsa, ecdsa) has no place in a DNS stub that runs in every shim",
	"crypto/tls":           "the server speaks plain DNS over UDP and TCP, not DNS over TLS",
	"math/big":             "the server needs no bignums; math/big comes only with crypto it must not link",
}

func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{
		BadDeps: badDeps,
		Allowed: []string{"golang.org/x/sys"},
	})
}
