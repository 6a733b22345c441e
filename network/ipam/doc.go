// Package ipam manages IPv4 addresses for stack's bridge networks: it picks a
// free subnet from Docker's default pools, completes and checks a compose
// ipam.config (subnet, ip_range, gateway), and picks or checks container
// addresses inside a network.
//
// It is pure: no files, no sockets, no netlink, no clock. What it must avoid
// (the subnets of other networks, the host's on-link routes and nameservers,
// the addresses already handed out) is passed in by the caller, which also
// keeps the allocations (package network's Store). Only IPv4 is supported.
package ipam
