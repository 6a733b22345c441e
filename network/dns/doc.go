// Package dns is the embedded DNS server a container reaches at 127.0.0.11,
// and the record files it answers from.
//
// Each container's shim runs one [Server] on sockets it created inside the
// container's network namespace; the server's goroutines run in the host's
// namespace, so forwarding reaches the host's resolvers, 127.0.0.53 included.
// Names come from record files, one per container endpoint per network
// ([WriteRecord], [RemoveRecord]), in one directory per network. The server
// watches those directories with inotify and reloads them on the first query
// after a change, so containers that come and go are seen at once, with no
// restart and no directory read per query.
//
// Answers follow Docker's embedded resolver (moby daemon/libnetwork/resolver.go):
// A and AAAA for the container, service, alias and link names of the
// container's networks (every replica's address, shuffled per response), PTR
// for their addresses, an empty NOERROR for a known name without an address
// of the asked family, and everything else forwarded to the upstream
// servers. Unlike Docker, whose TTL is 600, the TTL is 0 (as aardvark-dns's),
// so a recreated container's new address is used at once.
//
// Messages are read and written in wire format by the package itself
// (wire.go): the server answers A, AAAA, MX and PTR questions and relays
// the others as they came, which needs no DNS library, so the shim, which
// starts with every container, links none (deps_test.go says why). Its
// UDP sockets are read and written a batch at a time (mmsg.go).
//
// The package also reads the host's resolv.conf and renders the container's.
// It does not create sockets in a namespace or install the 127.0.0.11:53
// redirect: the shim does.
package dns
