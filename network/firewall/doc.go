// Package firewall installs stack's nftables rules over netlink
// (github.com/google/nftables; no nft or iptables binary is needed): the
// NAT and isolation of bridge networks, the published ports of containers,
// and the redirect of the embedded DNS server inside a container.
//
// # One table per owner
//
// Every owner has a table of its own in the ip family, so owners never
// edit each other's rules, and every change is one atomic batch that
// replaces the owner's whole table (add, delete, add again: the kernel
// commits all of it or nothing). Base chains of several tables on the same
// hook all see a packet: NAT chains run in priority order until one sets
// up a translation, and a drop in any filter chain is final, while an
// accept only ends its own chain.
//
//	table ip stack-net-<bridge>        network (host namespace)
//	  chain postrouting  nat, srcnat
//	    ip saddr <subnet> oifname != "<bridge>" masquerade      (not internal)
//	    oifname "<bridge>" ip saddr 127.0.0.0/8 masquerade
//	    oifname "<bridge>" ct status dnat ip saddr <subnet> masquerade
//	  chain forward      filter, filter
//	    iifname "<bridge>" oifname != "<bridge>" drop          (internal only)
//	    oifname "<bridge>" iifname != "<bridge>" drop          (internal only)
//	    ct status dnat accept
//	    ct state established,related accept
//	    iifname "<bridge>" oifname "stk-*" oifname != "<bridge>" drop
//
//	table ip stack-ports-<id[:12]>     published ports (host namespace)
//	  chain prerouting   nat, dstnat
//	  chain output       nat, dstnat
//	    fib daddr type local [ip daddr <host ip>] tcp dport <p> dnat to <ctr ip>:<port>
//
//	table ip stack-dns                 container namespace
//	  chain output       filter, raw
//	    ip daddr 127.0.0.11 udp dport 53 notrack udp dport set <udp port>
//	    ip daddr 127.0.0.11 tcp dport 53 notrack tcp dport set <tcp port>
//	    ip saddr 127.0.0.11 udp sport <udp port> notrack udp sport set 53
//	    ip saddr 127.0.0.11 tcp sport <tcp port> notrack tcp sport set 53
//
// The second masquerade lets the host reach a published port on 127.0.0.1
// (the container cannot answer a loopback source); the third lets a
// container reach a published port of its own network through a host
// address (the reply must come back through the host). The isolation rule
// keeps a container from opening connections to another network's
// containers by address; published ports, DNATed, are the way in. The
// layout follows netavark's (a single DNAT path, no userland proxy) and
// Docker's (moby:daemon/libnetwork/drivers/bridge/internal/nftabler,
// netavark:src/firewall/nft.rs).
//
// # What callers must do
//
// The rules need these settings, which this package does not make:
//   - net.ipv4.ip_forward=1 in the host namespace, for traffic between a
//     bridge and anything but the host itself: outbound connections,
//     published ports reached from another host or another network;
//   - net.ipv4.conf.<bridge>.route_localnet=1, so that a connection to
//     127.0.0.1:<published port>, DNATed to a container, may leave
//     through the bridge before it is masqueraded (the kernel otherwise
//     refuses to route a loopback source out of a non-loopback device);
//   - hairpin mode on a container's bridge port, for a container to reach
//     its own published port through a host address where bridged packets
//     pass netfilter (br_netfilter loaded, with its default
//     net.bridge.bridge-nf-call-iptables=1, as on this project's kernel):
//     the DNATed packet is then bridged back out of the port it came in
//     on;
//   - a bound socket on each published host port (the shim keeps one), as
//     the rules reserve nothing: of two tables mapping the same port, the
//     first the kernel runs wins.
//
// A drop in another firewall's table is final whatever these tables
// accept: on a host whose forward policy is drop (Docker sets iptables'
// FORWARD policy to DROP), stack's bridges need an accept there too.
//
// # Scope
//
// IPv4 only. Port ranges are expanded by the caller into mappings. A
// container on an internal network can be reached on a published port
// from the host itself only: its forward rules drop the rest, as they come
// before the DNAT accept. There
// is no rule against other hosts on the host's link routing to container
// addresses directly (Docker's raw PREROUTING drop). Every function works
// in the network namespace of the calling thread except SetDNSRedirect,
// which takes a namespace fd, and all are safe for concurrent use: each
// opens its own netlink socket, and the kernel serializes the batches.
package firewall
