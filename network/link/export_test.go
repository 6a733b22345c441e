package link

// For the tests of package link_test, which cannot live in package link:
// they import engine/enginetest, which imports this package through
// engine/shim.
var (
	Nameservers = nameservers
	IPNetPrefix = ipNetPrefix
)

const ResolvConf = resolvConf
