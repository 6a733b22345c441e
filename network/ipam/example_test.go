package ipam_test

import (
	"fmt"
	"net/netip"

	"stack/network/ipam"
)

func Example() {
	// A host with an on-link route on 172.17.0.0/16 (say, Docker's own
	// docker0) and one stack network on 172.18.0.0/16.
	taken := []netip.Prefix{netip.MustParsePrefix("172.17.0.0/16"), netip.MustParsePrefix("172.18.0.0/16")}
	subnet, err := ipam.NextSubnet(ipam.DefaultPools(), taken)
	if err != nil {
		panic(err)
	}
	c := ipam.ForSubnet(subnet)
	used := map[netip.Addr]bool{}
	for range 2 {
		a, err := ipam.NextAddr(c, func(a netip.Addr) bool { return used[a] })
		if err != nil {
			panic(err)
		}
		used[a] = true
		fmt.Println(c.Subnet, c.Gateway, a, ipam.MAC(a))
	}
	// Output:
	// 172.19.0.0/16 172.19.0.1 172.19.0.2 02:42:ac:13:00:02
	// 172.19.0.0/16 172.19.0.1 172.19.0.3 02:42:ac:13:00:03
}
