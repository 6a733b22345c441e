// Package link is the kernel side of stack's bridge networks: the Linux
// bridge of each network, the veth pair of each container attachment, and
// the few facts about the host that choosing a subnet needs (on-link
// routes, nameservers, the default route's MTU). It speaks netlink
// (vishvananda/netlink) and writes /proc/sys; it never execs ip(8).
//
// It does the steps of the libnetwork bridge driver and netavark
// (research/runtime.md §4.1): bridge with the gateway address, sysctls,
// veth created with its peer already in the container's namespace, address
// and default route inside. It owns no records and no firewall rules:
// package network decides names and addresses, network/firewall writes
// the nftables rules.
//
// Namespaces. EnsureBridge, DeleteBridge, Attach's host side, Detach and
// the host queries act in the network namespace of the calling thread. An
// unlocked goroutine may move between threads, which is harmless only as
// long as every thread of the process is in the same namespace; to act in
// another one, call them inside Do. The container side is reached through
// a namespace file descriptor and a netlink socket opened in it, never by
// moving the caller's thread. NewNetNS and Do are the only functions here
// that switch a thread's namespace, each on a locked thread of its own.
//
// All functions are safe for concurrent use, also by several processes at
// once on the same bridge.
package link
