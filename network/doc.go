// Package network gives stack's containers user-defined bridge networks, as
// Docker's bridge driver does.
//
// This package owns the network records and their address allocations on
// disk (Store, in <root>/networks): which networks exist, their subnets,
// gateways, bridge names and MTUs, and which container holds which address.
// Subnet and address arithmetic is pure and lives in network/ipam. The
// kernel side lives in subpackages: network/link creates the bridges and
// the veth pairs (netlink), network/firewall the nftables rules (outbound
// NAT, published ports, internal networks), and network/dns the embedded
// 127.0.0.11 resolver.
//
// The records know nothing of containers beyond an owner ID per address:
// whether a network is in use is for the caller to decide, from the
// container records, before it removes one.
package network
