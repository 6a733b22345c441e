package dns

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// pollInterval is how stale records may get when inotify is not
	// available (fs.inotify.max_user_instances, 128 on many hosts, is
	// shared by every shim): records are then read again on a query at
	// most this often.
	pollInterval = time.Second
	// tcpIdleTimeout closes a TCP connection with no query for this long,
	// as miekg/dns's server (and so Docker's) does.
	tcpIdleTimeout = 8 * time.Second
)

// Config is what one container's server answers from.
type Config struct {
	// Dirs are the record directories of the networks the container is
	// on, in its network order: a name is looked up in the first that
	// has it. A directory need not exist yet.
	Dirs []string
	// Links are container-scoped aliases, alias → the name it stands for
	// (compose's links "db:database" gives "database" → "db"). They take
	// precedence over the names of the records.
	Links map[string]string
	// Upstreams are the servers other queries are forwarded to, "ip" or
	// "ip:port", tried in order; only the first three are used, as in
	// Docker. With none (an internal network) such queries get SERVFAIL,
	// as from Docker's resolver when it may not forward.
	Upstreams []string
	// Timeout bounds the forwarding of one query across all upstreams;
	// zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives diagnostics; nil means none. NewServer reads it;
	// SetConfig ignores it.
	Logger *slog.Logger
}

// Server is one container's DNS server. It is safe for concurrent use.
type Server struct {
	log *slog.Logger
	fwd atomic.Pointer[upstreams]
	// sem holds a token per query being forwarded.
	sem chan struct{}
	// tbl is what queries are answered from. dirty says the records may
	// have changed since it was read: the next query reads them again.
	tbl   atomic.Pointer[table]
	dirty atomic.Bool

	// mu guards the fields below, and serializes reloads. No query waits
	// on it unless dirty is set.
	mu     sync.Mutex
	dirs   []string
	links  map[string]string
	w      *watcher // nil when inotify is not available, or after Close
	closed bool
}

// NewServer returns a server for cfg, its records read. Call Close (or
// Serve, which closes it when it returns) to release it.
//
// When inotify is not available NewServer logs a warning, and a serving
// server reads the records again at most once a second, on a query.
func NewServer(cfg Config) (*Server, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: log, sem: make(chan struct{}, maxForwards)}
	w, err := newWatcher()
	if err != nil {
		log.Warn("dns: cannot watch record directories; polling them instead", "err", err)
	} else {
		s.w = w
	}
	if err := s.SetConfig(cfg); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// SetConfig replaces the server's config, as when the container joins or
// leaves a network, and reads the records again before it returns. Queries
// in flight finish with the old config. Logger is ignored. It fails,
// changing nothing, on an invalid upstream address.
func (s *Server) SetConfig(cfg Config) error {
	u, err := parseUpstreams(cfg.Upstreams, cfg.Timeout)
	if err != nil {
		return fmt.Errorf("dns: config: %w", err)
	}
	s.fwd.Store(u)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirs = slices.Clone(cfg.Dirs)
	s.links = maps.Clone(cfg.Links)
	s.syncWatchesLocked()
	s.reloadLocked()
	return nil
}

// Close releases the server's inotify descriptor. It is idempotent. A
// closed server still answers, from the records it last read.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.w == nil {
		return nil
	}
	err := s.w.close()
	s.w = nil
	if err != nil {
		return fmt.Errorf("dns: close: %w", err)
	}
	return nil
}

// snapshot returns the table to answer a query from, reading the records
// again first if they may have changed.
func (s *Server) snapshot() *table {
	if s.dirty.Load() {
		s.mu.Lock()
		// Another query may have reloaded while this one waited.
		if s.dirty.CompareAndSwap(true, false) {
			s.reloadLocked()
		}
		s.mu.Unlock()
	}
	return s.tbl.Load()
}

// watchRecords sets dirty when the records may have changed, until ctx
// ends or the server is closed. With inotify it waits for events; without,
// it sets dirty once every pollInterval.
//
// A record written just before a query is sent may be missed by that query
// by the few microseconds the event takes to get here. Reading the inotify
// descriptor on every query instead would close that gap, at the cost of a
// syscall, a fifth of the server's time per query.
func (s *Server) watchRecords(ctx context.Context) {
	for ctx.Err() == nil {
		s.mu.Lock()
		w, closed := s.w, s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		if w == nil {
			select {
			case <-ctx.Done():
			case <-time.After(pollInterval):
				s.dirty.Store(true)
			}
			continue
		}
		n, err := w.f.Read(w.buf[:]) // w.buf is this goroutine's alone
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, os.ErrClosed) {
				s.log.Warn("dns: cannot watch record directories; polling them instead", "err", err)
				s.mu.Lock()
				if s.w == w {
					s.w.close()
					s.w = nil
				}
				s.mu.Unlock()
			}
			continue
		}
		s.mu.Lock()
		changed, resync := w.parse(w.buf[:n])
		if resync && s.w == w {
			s.syncWatchesLocked()
		}
		s.mu.Unlock()
		if changed || resync {
			s.dirty.Store(true)
		}
	}
}

// wakeWatcher ends a Read of watchRecords.
func (s *Server) wakeWatcher() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		s.w.f.SetReadDeadline(time.Now())
	}
}

func (s *Server) syncWatchesLocked() {
	if s.w == nil {
		return
	}
	if err := s.w.sync(s.dirs); err != nil {
		s.log.Warn("dns: cannot watch record directories; polling them instead", "err", err)
		s.w.close()
		s.w = nil
	}
}

func (s *Server) reloadLocked() {
	recs := make([][]Record, len(s.dirs))
	for i, d := range s.dirs {
		var errs []error
		recs[i], errs = readRecords(d)
		for _, err := range errs {
			s.log.Warn("dns: skipping record", "dir", d, "err", err)
		}
	}
	s.tbl.Store(newTable(recs, s.links))
}

// Serve answers queries on udp and tcp until ctx ends, either socket is
// closed, or reading one fails. Either may be nil. When Serve returns it has
// closed both sockets and the server, and every goroutine it started has
// ended. It returns nil after ctx ends or a socket is closed, and the read
// error otherwise.
//
// Each socket has one goroutine reading it, which makes the local answers,
// with no allocation on the common path; forwarded queries get a goroutine
// each, at most maxForwards at once (beyond that they are REFUSED, at once
// rather than after Docker's wait of up to 4s for a slot).
func (s *Server) Serve(ctx context.Context, udp net.PacketConn, tcp net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	closeAll := func() {
		if udp != nil {
			udp.Close()
		}
		if tcp != nil {
			tcp.Close()
		}
	}
	stop := context.AfterFunc(ctx, func() {
		closeAll()
		s.wakeWatcher()
	})
	defer stop()

	var wg sync.WaitGroup
	var mu sync.Mutex // guards errs
	var errs []error
	run := func(f func(context.Context, *sync.WaitGroup) error) {
		wg.Go(func() {
			defer cancel() // one loop ending ends them all
			if err := f(ctx, &wg); err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	if udp != nil {
		// One goroutine reads the socket. More would take turns, not
		// share the work: the socket's read lock passes from one to the
		// next, a goroutine wake-up per batch, which made a lone query's
		// round trip a third slower (BenchmarkLookupUDP on 2 CPUs: 27 µs
		// against 20). A second socket on the port (SO_REUSEPORT) did
		// not help either once the shim ran on one P (GOMAXPROCS=1).
		run(func(ctx context.Context, wg *sync.WaitGroup) error { return s.serveUDP(ctx, wg, udp) })
	}
	if tcp != nil {
		run(func(ctx context.Context, wg *sync.WaitGroup) error { return s.serveTCP(ctx, wg, tcp) })
	}
	wg.Go(func() { s.watchRecords(ctx) })
	wg.Wait()
	closeAll()
	return errors.Join(append(errs, s.Close())...)
}

// serveUDP reads and answers queries on conn. Forwarded queries are
// answered by goroutines added to wg.
func (s *Server) serveUDP(ctx context.Context, wg *sync.WaitGroup, conn net.PacketConn) error {
	if uc, ok := conn.(*net.UDPConn); ok && batchUDP {
		return s.serveUDPBatch(ctx, wg, uc)
	}
	uc, _ := conn.(*net.UDPConn) // its AddrPort methods do not allocate
	buf := make([]byte, maxMsgSize)
	out := make([]byte, 0, 4096)
	for {
		var (
			n    int
			ap   netip.AddrPort
			addr net.Addr
			err  error
		)
		if uc != nil {
			n, ap, err = uc.ReadFromUDPAddrPort(buf)
		} else {
			n, addr, err = conn.ReadFrom(buf)
		}
		if err != nil {
			return fmt.Errorf("dns: read udp: %w", err)
		}
		resp, q := handle(s.snapshot(), buf[:n], out, false)
		if q == nil {
			if resp != nil {
				writeUDP(conn, uc, resp, ap, addr)
			}
			continue
		}
		select {
		case s.sem <- struct{}{}:
		default:
			writeUDP(conn, uc, refused(q), ap, addr)
			continue
		}
		pkt := append([]byte(nil), buf[:n]...)
		wg.Go(func() {
			defer func() { <-s.sem }()
			writeUDP(conn, uc, forward(ctx, s.fwd.Load(), q, pkt, false, s.log), ap, addr)
		})
	}
}

// batchUDP: read and answer UDP queries in batches (see batch).
const batchUDP = true

// serveUDPBatch is serveUDP with batched reads and writes. Local answers
// of one batch go back in one sendmmsg; forwarded queries are answered
// one by one when the upstream replies, as in serveUDP.
func (s *Server) serveUDPBatch(ctx context.Context, wg *sync.WaitGroup, uc *net.UDPConn) error {
	b, err := newBatch(uc)
	if err != nil {
		return fmt.Errorf("dns: udp: %w", err)
	}
	for {
		n, err := b.read()
		if err != nil {
			return fmt.Errorf("dns: read udp: %w", err)
		}
		t := s.snapshot()
		for i := range n {
			resp, q := handle(t, b.pkt(i), b.out[i][:0], false)
			if q == nil {
				if resp != nil {
					b.queue(i, resp)
				}
				continue
			}
			select {
			case s.sem <- struct{}{}:
			default:
				b.queue(i, refused(q))
				continue
			}
			pkt, ap := slices.Clone(b.pkt(i)), b.sender(i)
			wg.Go(func() {
				defer func() { <-s.sem }()
				uc.WriteToUDPAddrPort(forward(ctx, s.fwd.Load(), q, pkt, false, s.log), ap)
			})
		}
		b.flush()
	}
}

// writeUDP sends b to the client at ap (uc) or addr (conn). An error is
// the client's problem (it will retry) or the socket's (the reader sees
// it), so it is dropped.
func writeUDP(conn net.PacketConn, uc *net.UDPConn, b []byte, ap netip.AddrPort, addr net.Addr) {
	if uc != nil {
		uc.WriteToUDPAddrPort(b, ap)
	} else {
		conn.WriteTo(b, addr)
	}
}

// serveTCP accepts connections on ln and serves each on a goroutine added
// to wg.
func (s *Server) serveTCP(ctx context.Context, wg *sync.WaitGroup, ln net.Listener) error {
	backoff := time.Duration(0)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || ctx.Err() != nil {
				return err
			}
			// Out of descriptors and the like: wait, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("dns: accept", "err", err, "retry in", backoff)
			select {
			case <-time.After(backoff):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		backoff = 0
		wg.Go(func() {
			defer conn.Close()
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			defer stop()
			s.serveConn(ctx, conn)
		})
	}
}

// serveConn answers the queries of one TCP connection in order until the
// client closes it, it idles for tcpIdleTimeout, or a query is malformed.
func (s *Server) serveConn(ctx context.Context, conn net.Conn) {
	var l [2]byte
	var pkt []byte
	out := make([]byte, 0, 4096)
	for {
		conn.SetReadDeadline(time.Now().Add(tcpIdleTimeout))
		if _, err := io.ReadFull(conn, l[:]); err != nil {
			return
		}
		pkt = slices.Grow(pkt[:0], be16(l[:]))[:be16(l[:])]
		if _, err := io.ReadFull(conn, pkt); err != nil {
			return
		}
		// The response is built two bytes into out, so that the length
		// prefix goes in front of it without a copy.
		resp, q := handle(s.snapshot(), pkt, out[2:2], true)
		if q != nil {
			select {
			case s.sem <- struct{}{}:
				resp = forward(ctx, s.fwd.Load(), q, pkt, true, s.log)
				<-s.sem
			default:
				resp = refused(q)
			}
		}
		if resp == nil {
			return
		}
		msg := append(append(out[:0], byte(len(resp)>>8), byte(len(resp))), resp...)
		conn.SetWriteDeadline(time.Now().Add(tcpIdleTimeout))
		if _, err := conn.Write(msg); err != nil {
			return
		}
	}
}
