// Command coredns is the test cluster's stand-in for the image registry.k8s.io/coredns/coredns
// (the Gateway API conformance base manifests deploy one for the UDPRoute tests). It is not
// CoreDNS: it reads a Corefile (-conf FILE, default ./Corefile) and serves the subset the
// conformance manifests use, over UDP and TCP:
//
//	ZONE[:PORT] [ZONE[:PORT]]... {    server blocks (port 53 by default)
//	    whoami                        answer with the client's address and port (as CoreDNS's
//	                                  whoami: an A/AAAA record and an _udp/_tcp SRV record in
//	                                  the additional section, authoritative, TTL 0)
//	    forward . ADDR...             refused (REFUSED): the test cluster sends no traffic off
//	                                  this machine; the upstreams are logged once
//	    log, errors                   accepted (each query is logged to stderr)
//	}
//
// Any other plugin or directive stops it with an error naming the line: a Corefile it cannot
// serve as written is refused, not half-served. A query is answered by the server block with
// the longest zone matching its name; none matching gets REFUSED.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// block is one server block: its zones (lower case, fully qualified) and what it does.
type block struct {
	zones   []string
	port    int
	whoami  bool
	forward []string
}

func main() {
	conf := flag.String("conf", "Corefile", "Corefile to read")
	flag.Parse()
	blocks, err := parseCorefile(*conf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "coredns (portico test cluster stand-in): %v\n", err)
		os.Exit(1)
	}
	ports := map[int][]block{}
	for _, b := range blocks {
		ports[b.port] = append(ports[b.port], b)
		if len(b.forward) > 0 {
			fmt.Fprintf(os.Stderr, "coredns stand-in: zones %v forward to %v: answered REFUSED (no traffic leaves this machine)\n", b.zones, b.forward)
		}
	}
	for port, bs := range ports {
		addr := ":" + strconv.Itoa(port)
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "coredns stand-in: %v\n", err)
			os.Exit(1)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "coredns stand-in: %v\n", err)
			os.Exit(1)
		}
		go serveUDP(pc, bs)
		go serveTCP(ln, bs)
		fmt.Fprintf(os.Stderr, "coredns stand-in: serving %d server block(s) on %s (udp, tcp)\n", len(bs), addr)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}

// parseCorefile reads the server blocks of file (see the package comment).
func parseCorefile(file string) ([]block, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		blocks []block
		cur    *block
	)
	scanner := bufio.NewScanner(f)
	for line := 1; scanner.Scan(); line++ {
		text := scanner.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", file, line, fmt.Sprintf(format, a...))
		}
		switch {
		case len(fields) == 0:
		case cur == nil:
			if fields[len(fields)-1] != "{" || len(fields) < 2 {
				return nil, bad("expected 'ZONE[:PORT]... {', got %q", strings.TrimSpace(text))
			}
			b := block{port: 53}
			for _, key := range fields[:len(fields)-1] {
				zone, port := key, 53
				if i := strings.LastIndexByte(key, ':'); i >= 0 {
					p, err := strconv.Atoi(key[i+1:])
					if err != nil || p < 1 || p > 65535 {
						return nil, bad("bad port in %q", key)
					}
					zone, port = key[:i], p
				}
				b.zones = append(b.zones, strings.ToLower(strings.TrimSuffix(zone, "."))+".")
				b.port = port
			}
			cur = &b
		case fields[0] == "}":
			blocks = append(blocks, *cur)
			cur = nil
		case fields[0] == "whoami":
			cur.whoami = true
		case fields[0] == "forward":
			if len(fields) < 3 {
				return nil, bad("forward needs FROM and at least one TO")
			}
			cur.forward = fields[2:]
		case fields[0] == "log", fields[0] == "errors":
		default:
			return nil, bad("plugin %q is not served by the portico test cluster's coredns stand-in (it serves whoami, forward as REFUSED, log, errors)", fields[0])
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if cur != nil {
		return nil, fmt.Errorf("%s: server block %v not closed", file, cur.zones)
	}
	if len(blocks) == 0 {
		return nil, fmt.Errorf("%s: no server blocks", file)
	}
	return blocks, nil
}

// match is the block whose zone is the longest suffix of name, or nil.
func match(blocks []block, name string) *block {
	var best *block
	bestLen := -1
	for i := range blocks {
		for _, z := range blocks[i].zones {
			if (z == "." || name == z || strings.HasSuffix(name, "."+z)) && len(z) > bestLen {
				best, bestLen = &blocks[i], len(z)
			}
		}
	}
	return best
}

// answer builds the reply to query from client over proto ("udp" or "tcp"); nil drops it.
func answer(blocks []block, query []byte, client net.Addr, proto string) []byte {
	var p dnsmessage.Parser
	header, err := p.Start(query)
	if err != nil || header.Response {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.ToLower(q.Name.String())
	reply := dnsmessage.Header{ID: header.ID, Response: true, OpCode: header.OpCode, RecursionDesired: header.RecursionDesired}
	b := match(blocks, name)
	if b == nil || !b.whoami {
		reply.RCode = dnsmessage.RCodeRefused
	} else {
		reply.Authoritative = true
	}
	fmt.Fprintf(os.Stderr, "%s [INFO] %s %s %s %s rcode=%s\n", time.Now().UTC().Format(time.RFC3339), client, proto, q.Type, name, reply.RCode)
	builder := dnsmessage.NewBuilder(nil, reply)
	builder.EnableCompression()
	if builder.StartQuestions() != nil || builder.Question(q) != nil {
		return nil
	}
	if reply.RCode == dnsmessage.RCodeSuccess {
		host, portText, _ := net.SplitHostPort(client.String())
		ip := net.ParseIP(host)
		port, _ := strconv.Atoi(portText)
		srvName, err := dnsmessage.NewName("_" + proto + "." + q.Name.String())
		if err != nil || builder.StartAdditionals() != nil {
			return nil
		}
		if v4 := ip.To4(); v4 != nil {
			err = builder.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET}, dnsmessage.AResource{A: [4]byte(v4)})
		} else {
			err = builder.AAAAResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET}, dnsmessage.AAAAResource{AAAA: [16]byte(ip.To16())})
		}
		if err != nil {
			return nil
		}
		root := dnsmessage.MustNewName(".")
		if builder.SRVResource(dnsmessage.ResourceHeader{Name: srvName, Class: q.Class}, dnsmessage.SRVResource{Port: uint16(port), Target: root}) != nil {
			return nil
		}
	}
	out, err := builder.Finish()
	if err != nil {
		return nil
	}
	return out
}

func serveUDP(pc net.PacketConn, blocks []block) {
	buf := make([]byte, 4096)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if out := answer(blocks, buf[:n], addr, "udp"); out != nil {
			_, _ = pc.WriteTo(out, addr)
		}
	}
}

func serveTCP(ln net.Listener, blocks []block) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		go func() {
			defer conn.Close()
			for {
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				var size [2]byte
				if _, err := io.ReadFull(conn, size[:]); err != nil {
					return
				}
				query := make([]byte, binary.BigEndian.Uint16(size[:]))
				if _, err := io.ReadFull(conn, query); err != nil {
					return
				}
				out := answer(blocks, query, conn.RemoteAddr(), "tcp")
				if out == nil {
					return
				}
				if _, err := conn.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...)); err != nil {
					return
				}
			}
		}()
	}
}
