package awstest

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// dnsServer answers DNS queries, over UDP and TCP on one loopback port, from
// the Route 53 hosted zones, as their authoritative name servers would: a name
// in no zone is REFUSED, a missing name NXDOMAIN, a name without records of the
// asked type NOERROR with no answer (both with the zone's SOA in the authority
// section). A change is answered from the moment it is INSYNC.
type dnsServer struct {
	addr string
	udp  *dns.Server
	tcp  *dns.Server
}

// startDNS listens on host's UDP and TCP port (the same number for both;
// port 0 picks a free one).
func (s *Server) startDNS(addr string) (*dnsServer, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("DNS address %q: %w", addr, err)
	}
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, fmt.Errorf("listening for DNS on udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			_ = pc.Close()
			lastErr = err
			if port != "0" {
				break
			}
			continue // the free UDP port is taken for TCP: pick another
		}
		d := &dnsServer{addr: pc.LocalAddr().String()}
		h := dns.HandlerFunc(s.answerDNS)
		d.udp = &dns.Server{PacketConn: pc, Handler: h}
		d.tcp = &dns.Server{Listener: ln, Handler: h, ReadTimeout: 5 * time.Second}
		go func() { _ = d.udp.ActivateAndServe() }()
		go func() { _ = d.tcp.ActivateAndServe() }()
		return d, nil
	}
	return nil, fmt.Errorf("listening for DNS on tcp %s: %w", addr, lastErr)
}

func (d *dnsServer) close() {
	_ = d.udp.Shutdown()
	_ = d.tcp.Shutdown()
}

// DNSAddr is the "127.0.0.1:PORT" address (UDP and TCP) at which the hosted
// zones' records are answered.
func (s *Server) DNSAddr() string { return s.dns.addr }

func (s *Server) answerDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	m.RecursionAvailable = false
	if len(q.Question) != 1 || q.Opcode != dns.OpcodeQuery {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	question := q.Question[0]
	name := canonicalName(question.Name)
	s.mu.Lock()
	var zone *hostedZone
	for _, z := range s.zones {
		if !z.private && inZone(name, z.name) && (zone == nil || len(z.name) > len(zone.name)) {
			zone = z
		}
	}
	var sets []rrset
	if zone != nil {
		sets = zone.served(time.Now())
	}
	s.mu.Unlock()
	if zone == nil {
		m.Rcode = dns.RcodeRefused
		m.Authoritative = false
		_ = w.WriteMsg(m)
		return
	}
	exists := false
	for _, rs := range sets {
		if rs.name != name && !strings.HasSuffix(rs.name, "."+name) {
			continue
		}
		exists = true // the name, or a name below it, exists: NOERROR
		if rs.name == name && (rs.typ == dns.TypeToString[question.Qtype] || question.Qtype == dns.TypeANY) {
			m.Answer = append(m.Answer, records(rs)...)
		}
	}
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 {
		for _, rs := range sets {
			if rs.name == zone.name && rs.typ == "SOA" {
				m.Ns = append(m.Ns, records(rs)...)
			}
		}
	}
	_ = w.WriteMsg(m)
}

// records turns a record set into DNS records; values Route 53 took but DNS
// cannot parse are left out.
func records(rs rrset) []dns.RR {
	out := make([]dns.RR, 0, len(rs.values))
	for _, v := range rs.values {
		rr, err := dns.NewRR(fmt.Sprintf("%s %d IN %s %s", rs.name, rs.ttl, rs.typ, v))
		if err == nil && rr != nil {
			out = append(out, rr)
		}
	}
	return out
}
