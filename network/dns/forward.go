package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

const (
	// DefaultTimeout bounds the forwarding of one query, across all
	// upstream servers: Docker's extIOTimeout.
	DefaultTimeout = 4 * time.Second
	// maxUpstreams is how many upstream servers are tried, as Docker's
	// maxExtDNS (and glibc's MAXNS).
	maxUpstreams = 3
	// maxForwards bounds the queries being forwarded at once, as Docker's
	// maxConcurrent.
	maxForwards = 1024
)

// upstreams is the forwarding half of a Config, swapped whole by SetConfig.
type upstreams struct {
	addrs   []netip.AddrPort
	timeout time.Duration
}

// parseUpstreams parses "ip" or "ip:port" ("[ip6]:port") server addresses,
// port 53 by default, keeping the first maxUpstreams.
func parseUpstreams(servers []string, timeout time.Duration) (*upstreams, error) {
	u := &upstreams{timeout: timeout}
	if u.timeout <= 0 {
		u.timeout = DefaultTimeout
	}
	for _, s := range servers {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("upstream dns server %q: want an IP address with an optional port", s)
			}
			ap = netip.AddrPortFrom(a, 53)
		}
		if len(u.addrs) < maxUpstreams {
			u.addrs = append(u.addrs, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		}
	}
	return u, nil
}

// forward relays query q (pkt on the wire) to the upstream servers in order
// and returns the response for the client: the first upstream answer that
// is neither SERVFAIL nor REFUSED, with the client's ID, truncated to what
// the client takes; or SERVFAIL when no server answers in time, or there is
// none (an internal network: moby's resolver answers SERVFAIL when it may
// not forward).
//
// The query goes upstream over the client's transport. A truncated UDP
// answer is asked again over TCP, and then truncated for the client with
// as many records as fit, rather than relayed empty, because not every stub
// resolver retries over TCP (musl before 1.2.4 does not).
//
// The timeout is shared: each server gets the time left divided by the
// number of servers left, so a dead first server still leaves time for the
// others.
func forward(ctx context.Context, u *upstreams, q *request, pkt []byte, tcp bool, log *slog.Logger) []byte {
	ctx, cancel := context.WithTimeout(ctx, u.timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	network := "udp"
	if tcp {
		network = "tcp"
	}
	for i, server := range u.addrs {
		actx, acancel := context.WithTimeout(ctx, time.Until(deadline)/time.Duration(len(u.addrs)-i))
		resp, err := exchange(actx, network, server, pkt)
		if err == nil && !tcp && resp[2]&0x02 != 0 {
			if full, err := exchange(actx, "tcp", server, pkt); err == nil {
				resp = full
			} else {
				log.Debug("dns: retry of truncated answer over tcp failed", "server", server, "err", err)
			}
		}
		acancel()
		if err != nil {
			log.Debug("dns: forward failed", "server", server, "network", network, "question", q, "err", err)
			continue
		}
		if rcode := resp[3] & 0x0f; rcode == rcodeServFail || rcode == rcodeRefused {
			log.Debug("dns: upstream failed", "server", server, "rcode", rcode, "question", q)
			continue
		}
		resp[0], resp[1] = pkt[0], pkt[1]
		if size := q.size(tcp); len(resp) > size {
			if resp, err = truncate(resp, size); err != nil {
				log.Debug("dns: bad upstream answer", "server", server, "err", err)
				continue
			}
		}
		return resp
	}
	return servFail(q)
}

func servFail(q *request) []byte {
	return q.appendReply(nil, rcodeServFail, true)
}

// refused answers a query that finds maxForwards queries in flight.
func refused(q *request) []byte {
	return q.appendReply(nil, rcodeRefused, true)
}

// truncate cuts msg, an answer longer than size, to the records that fit in
// size, as miekg/dns's Msg.Truncate does: the questions, then answer,
// authority and additional records in order up to the first that does not
// fit, and the OPT record (the last, should there be more) whatever its
// place; TC is set when a record is left out.
//
// Records are cut, not encoded again, so every type is relayed as it came.
// The names in what is kept can only point into what is kept, since a
// compression pointer points back (RFC 1035 §4.1.4), and an OPT record,
// moved last when what followed it is cut, has the root for its name.
func truncate(msg []byte, size int) ([]byte, error) {
	var scratch [maxNameLen]byte
	off := headerLen
	for range be16(msg[4:]) {
		_, end, err := readName(scratch[:0], msg, off)
		if err != nil || end+4 > len(msg) {
			return nil, errMalformed
		}
		off = end + 4
	}
	questions := off
	type record struct{ start, end, section int }
	var rrs []record
	opt := -1 // the index of the OPT record in rrs
	for section := range 3 {
		for range be16(msg[6+2*section:]) {
			rr, err := readRR(msg, off)
			if err != nil {
				return nil, err
			}
			if section == 2 && rr.typ == typeOPT {
				opt = len(rrs)
			}
			rrs = append(rrs, record{off, rr.end, section})
			off = rr.end
		}
	}

	out := append(make([]byte, 0, size), msg[:questions]...)
	budget := size // for the records that are not the OPT
	if opt >= 0 {
		budget -= rrs[opt].end - rrs[opt].start
	}
	var counts [3]int
	optKept, cut := false, false
	for i, r := range rrs {
		switch {
		case i == opt:
			if !cut { // else it goes last
				out = append(out, msg[r.start:r.end]...)
				budget += r.end - r.start
				counts[2]++
				optKept = true
			}
		case cut || len(out)+r.end-r.start > budget:
			cut = true
		default:
			out = append(out, msg[r.start:r.end]...)
			counts[r.section]++
		}
	}
	if opt >= 0 && !optKept {
		out = append(out, msg[rrs[opt].start:rrs[opt].end]...)
		counts[2]++
	}
	for i, n := range counts {
		out[6+2*i], out[7+2*i] = byte(n>>8), byte(n)
	}
	if cut {
		out[2] |= 0x02
	}
	return out, nil
}

// bufPool holds UDP receive buffers for exchange: big enough for any
// datagram, because some servers exceed the size a query advertises.
var bufPool = sync.Pool{New: func() any { return new([maxMsgSize]byte) }}

// exchange sends query to server over network ("udp" or "tcp") under a
// fresh random ID and returns the server's response, its ID still the
// random one. A new socket per query gives a random source port, as Docker
// and glibc do. ctx's end aborts it.
func exchange(ctx context.Context, network string, server netip.AddrPort, query []byte) ([]byte, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, server.String())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	id := uint16(rand.Uint32())
	resp, err := roundTrip(conn, network, query, id)
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return resp, err
}

func roundTrip(conn net.Conn, network string, query []byte, id uint16) ([]byte, error) {
	msg := make([]byte, 2+len(query))
	copy(msg[2:], query)
	msg[2], msg[3] = byte(id>>8), byte(id)
	if network == "tcp" {
		msg[0], msg[1] = byte(len(query)>>8), byte(len(query))
		if _, err := conn.Write(msg); err != nil {
			return nil, err
		}
		var l [2]byte
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return nil, err
		}
		resp := make([]byte, be16(l[:]))
		if _, err := io.ReadFull(conn, resp); err != nil {
			return nil, err
		}
		if len(resp) < headerLen || be16(resp) != int(id) || resp[2]&0x80 == 0 {
			return nil, errors.New("answer does not match the query")
		}
		return resp, nil
	}
	if _, err := conn.Write(msg[2:]); err != nil {
		return nil, err
	}
	buf := bufPool.Get().(*[maxMsgSize]byte)
	defer bufPool.Put(buf)
	for {
		n, err := conn.Read(buf[:])
		if err != nil {
			return nil, err
		}
		// Skip strays: late answers to an earlier query, and spoofs
		// that guessed the port but not the ID.
		if n >= headerLen && be16(buf[:]) == int(id) && buf[2]&0x80 != 0 {
			return append([]byte(nil), buf[:n]...), nil
		}
	}
}
