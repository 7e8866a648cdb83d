package awstest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Route 53 speaks REST-XML (API version 2013-04-01): the operation is the
// method and the URI, the request body and the response are XML documents in
// the namespace https://route53.amazonaws.com/doc/2013-04-01/, and errors are
// <ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>
// except ChangeResourceRecordSets' InvalidChangeBatch, which is
// <InvalidChangeBatch><Messages><Message/>…</Messages><RequestId/></InvalidChangeBatch>
// (Route 53 API Reference: ChangeResourceRecordSets, "Errors"; the SDK's
// route53 customization decodes exactly this shape).
//
// What is served: CreateHostedZone, ListHostedZonesByName,
// ChangeResourceRecordSets (CREATE, DELETE, UPSERT; a batch is applied whole or
// not at all), GetChange (PENDING until the propagation delay has passed, then
// INSYNC) and ListResourceRecordSets. The records are also answered over DNS
// (see DNSAddr), as the zone's authoritative name servers would.

const route53Version = "2013-04-01"

type hostedZone struct {
	id        string // without the "/hostedzone/" prefix
	name      string // lower case, with the final dot
	callerRef string
	comment   string
	private   bool
	rrsets    []rrset      // what the API shows, in ListResourceRecordSets order
	versions  []dnsVersion // what DNS answers, oldest first
}

// rrset is one resource record set; values are in Route 53's (zone file) syntax.
type rrset struct {
	name   string
	typ    string
	ttl    int64
	values []string
}

// dnsVersion is the zone's records as DNS answers them from at on.
type dnsVersion struct {
	at     time.Time
	rrsets []rrset
}

type r53Change struct {
	id        string
	comment   string
	submitted time.Time
	insyncAt  time.Time
}

func init() {
	handlers["route53"] = map[string]handlerFunc{
		"CreateHostedZone":         (*Server).r53CreateZone,
		"ListHostedZonesByName":    (*Server).r53ListZonesByName,
		"ChangeResourceRecordSets": (*Server).r53Change,
		"GetChange":                (*Server).r53GetChange,
		"ListResourceRecordSets":   (*Server).r53ListRecordSets,
	}
}

// restResult is a REST-XML answer: the children of <ActionResponse>.
type restResult struct {
	status   int // default 200
	location string
	kids     []node
}

// route53Route maps a request's method and path to its operation.
func route53Route(method, path string) (action string, segs []string, e *apiError) {
	rest, ok := strings.CutPrefix(path, "/"+route53Version+"/")
	if !ok {
		return "", nil, errorf(http.StatusNotFound, "UnknownOperationException", "no operation at %s %s", method, path)
	}
	segs = strings.Split(strings.TrimSuffix(rest, "/"), "/")
	switch {
	case method == http.MethodPost && len(segs) == 1 && segs[0] == "hostedzone":
		return "CreateHostedZone", segs, nil
	case method == http.MethodGet && len(segs) == 1 && segs[0] == "hostedzonesbyname":
		return "ListHostedZonesByName", segs, nil
	case method == http.MethodPost && len(segs) == 3 && segs[0] == "hostedzone" && segs[2] == "rrset":
		return "ChangeResourceRecordSets", segs, nil
	case method == http.MethodGet && len(segs) == 3 && segs[0] == "hostedzone" && segs[2] == "rrset":
		return "ListResourceRecordSets", segs, nil
	case method == http.MethodGet && len(segs) == 2 && segs[0] == "change":
		return "GetChange", segs, nil
	}
	return "", nil, errorf(http.StatusNotFound, "UnknownOperationException", "no operation at %s %s", method, path)
}

func writeRESTResult(w http.ResponseWriter, r *request, out restResult) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString("<" + r.action + `Response xmlns="` + namespaces[r.service] + `">`)
	for _, k := range out.kids {
		k.write(&b)
	}
	b.WriteString("</" + r.action + "Response>")
	w.Header().Set("Content-Type", "text/xml")
	if out.location != "" {
		w.Header().Set("Location", out.location)
	}
	status := out.status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

func writeInvalidChangeBatch(w http.ResponseWriter, r *request, e *apiError) {
	msgs := make([]node, 0, len(e.messages))
	for _, m := range e.messages {
		msgs = append(msgs, tx("Message", m))
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<InvalidChangeBatch xmlns="` + namespaces["route53"] + `">`)
	list("Messages", msgs).write(&b)
	tx("RequestId", r.id).write(&b)
	b.WriteString("</InvalidChangeBatch>")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	_, _ = w.Write(b.Bytes())
}

func invalidInput(format string, a ...any) *apiError {
	return badRequest("InvalidInput", format, a...)
}

// canonicalName is name as Route 53 stores it: lower case, final dot.
func canonicalName(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// reversedLabels orders names as Route 53 lists them: by labels read from the
// right ("com.example.www").
func reversedLabels(name string) string {
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	slices.Reverse(labels)
	return strings.Join(labels, ".")
}

// inZone reports whether name is the zone's apex or below it.
func inZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

func validDomainName(name string) bool {
	n := strings.TrimSuffix(name, ".")
	if n == "" || len(n) > 253 {
		return false
	}
	for _, l := range strings.Split(n, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

func (s *Server) zoneByID(id string) *hostedZone {
	id = strings.TrimPrefix(id, "/hostedzone/")
	return find(s.zones, func(z *hostedZone) bool { return z.id == id })
}

func noSuchZone(id string) *apiError {
	return errorf(http.StatusNotFound, "NoSuchHostedZone", "No hosted zone found with ID: %s", id)
}

// addZone creates a zone with its SOA and NS records, visible at once.
func (s *Server) addZone(name, callerRef, comment string, private bool) *hostedZone {
	z := &hostedZone{
		id:        "Z" + randomUpper(20),
		name:      name,
		callerRef: callerRef,
		comment:   comment,
		private:   private,
	}
	ns := nameServers()
	z.rrsets = []rrset{
		{name: name, typ: "NS", ttl: 172800, values: ns},
		{name: name, typ: "SOA", ttl: 900, values: []string{ns[0] + " awsdns-hostmaster.amazon.com. 1 7200 900 1209600 86400"}},
	}
	sortRRSets(z.rrsets)
	z.versions = []dnsVersion{{at: time.Now(), rrsets: z.rrsets}}
	s.zones = append(s.zones, z)
	return z
}

// nameServers are the zone's delegation set (names only: DNSAddr serves them all).
func nameServers() []string {
	return []string{"ns-1.awstest.invalid.", "ns-2.awstest.invalid."}
}

func (z *hostedZone) describe() node {
	kids := []node{
		tx("Id", "/hostedzone/"+z.id),
		tx("Name", z.name),
		tx("CallerReference", z.callerRef),
	}
	cfg := []node{boolean("PrivateZone", z.private)}
	if z.comment != "" {
		cfg = append([]node{tx("Comment", z.comment)}, cfg...)
	}
	kids = append(kids, el("Config", cfg...), integer("ResourceRecordSetCount", len(z.rrsets)))
	return el("HostedZone", kids...)
}

// CreateHostedZone: POST /2013-04-01/hostedzone, 201 Created with a Location
// header; CallerReference must be unique (HostedZoneAlreadyExists, 409),
// Name a valid domain name (InvalidDomainName, 400). Route 53 API Reference:
// CreateHostedZone.
func (s *Server) r53CreateZone(r *request) (any, *apiError) {
	var in struct {
		Name             string
		CallerReference  string
		HostedZoneConfig struct {
			Comment     string
			PrivateZone bool
		}
	}
	if err := xml.Unmarshal(r.body, &in); err != nil {
		return nil, invalidInput("the request body is not a CreateHostedZoneRequest document: %v", err)
	}
	if in.Name == "" || in.CallerReference == "" {
		return nil, invalidInput("Name and CallerReference are required")
	}
	name := canonicalName(in.Name)
	if !validDomainName(name) {
		return nil, badRequest("InvalidDomainName", "%s is not a valid domain name", in.Name)
	}
	if find(s.zones, func(z *hostedZone) bool { return z.callerRef == in.CallerReference }) != nil {
		return nil, errorf(http.StatusConflict, "HostedZoneAlreadyExists", "A hosted zone has already been created with the specified caller reference.")
	}
	z := s.addZone(name, in.CallerReference, in.HostedZoneConfig.Comment, in.HostedZoneConfig.PrivateZone)
	c := s.newChange("", time.Now())
	ns := make([]node, 0, 2)
	for _, n := range nameServers() {
		ns = append(ns, tx("NameServer", strings.TrimSuffix(n, ".")))
	}
	return restResult{
		status:   http.StatusCreated,
		location: "https://route53.amazonaws.com/" + route53Version + "/hostedzone/" + z.id,
		kids:     []node{z.describe(), c.describe(), el("DelegationSet", list("NameServers", ns))},
	}, nil
}

// ListHostedZonesByName: GET /2013-04-01/hostedzonesbyname?dnsname=&hostedzoneid=&maxitems=;
// zones sorted by their names' labels read from the right, then by ID; the
// list starts at dnsname (and hostedzoneid); hostedzoneid without dnsname is
// InvalidInput; maxitems at most 100. Route 53 API Reference: ListHostedZonesByName.
func (s *Server) r53ListZonesByName(r *request) (any, *apiError) {
	dnsName, zoneID := r.form.Get("dnsname"), r.form.Get("hostedzoneid")
	if zoneID != "" && dnsName == "" {
		return nil, invalidInput("The DNSName parameter is required if HostedZoneId is specified")
	}
	maxItems, e := r53MaxItems(r.form.Get("maxitems"), 100)
	if e != nil {
		return nil, e
	}
	zones := slices.Clone(s.zones)
	slices.SortFunc(zones, func(a, b *hostedZone) int {
		if c := strings.Compare(reversedLabels(a.name), reversedLabels(b.name)); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	start := 0
	if dnsName != "" {
		key := reversedLabels(canonicalName(dnsName))
		start = len(zones)
		for i, z := range zones {
			k := reversedLabels(z.name)
			if k > key || (k == key && z.id >= zoneID) {
				start = i
				break
			}
		}
	}
	page := zones[start:]
	truncated := len(page) > maxItems
	if truncated {
		page = page[:maxItems]
	}
	items := make([]node, 0, len(page))
	for _, z := range page {
		items = append(items, z.describe())
	}
	kids := []node{list("HostedZones", items)}
	if dnsName != "" {
		kids = append(kids, tx("DNSName", dnsName))
	}
	if zoneID != "" {
		kids = append(kids, tx("HostedZoneId", zoneID))
	}
	kids = append(kids, boolean("IsTruncated", truncated))
	if truncated {
		next := zones[start+maxItems]
		kids = append(kids, tx("NextDNSName", next.name), tx("NextHostedZoneId", next.id))
	}
	kids = append(kids, integer("MaxItems", maxItems))
	return restResult{kids: kids}, nil
}

// r53MaxItems is a list call's page size: maxitems, at most (and by default) limit.
func r53MaxItems(v string, limit int) (int, *apiError) {
	if v == "" {
		return limit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, invalidInput("maxitems %q is not a positive number", v)
	}
	return min(n, limit), nil
}

type xmlChange struct {
	Action            string
	ResourceRecordSet struct {
		Name            string
		Type            string
		TTL             *int64
		SetIdentifier   string
		ResourceRecords struct {
			ResourceRecord []struct{ Value string }
		}
	}
}

// ChangeResourceRecordSets: POST /2013-04-01/hostedzone/{Id}/rrset. The batch is
// one transaction: every change is checked against the state left by the ones
// before it, and any error leaves the zone as it was, answered as
// InvalidChangeBatch with one message per failing change. CREATE of an existing
// set, DELETE of a missing one or with other values than the current ones, a
// name outside the zone, and an unquoted TXT value are InvalidChangeBatch;
// at most 100 changes (InvalidChangeBatch) and 1000 records; an unknown zone is
// NoSuchHostedZone (404). The answer is ChangeInfo with Status PENDING, or
// INSYNC when the propagation delay is zero. Route 53 API Reference:
// ChangeResourceRecordSets.
func (s *Server) r53Change(r *request) (any, *apiError) {
	z := s.zoneByID(r.path[1])
	if z == nil {
		return nil, noSuchZone(r.path[1])
	}
	var in struct {
		ChangeBatch struct {
			Comment string
			Changes struct {
				Change []xmlChange
			}
		}
	}
	if err := xml.Unmarshal(r.body, &in); err != nil {
		return nil, invalidInput("the request body is not a ChangeResourceRecordSetsRequest document: %v", err)
	}
	changes := in.ChangeBatch.Changes.Change
	if len(changes) == 0 {
		return nil, invalidInput("1 validation error detected: Value '[]' at 'changeBatch.changes' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(changes) > 100 {
		return nil, &apiError{status: http.StatusBadRequest, code: "InvalidChangeBatch", message: "too many changes",
			messages: []string{fmt.Sprintf("Number of changes %d exceeds the limit of 100", len(changes))}}
	}
	records := 0
	next := slices.Clone(z.rrsets)
	var msgs []string
	for i, c := range changes {
		set := c.ResourceRecordSet
		if set.Name == "" || set.Type == "" {
			return nil, invalidInput("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=%s, Name=%s, Type=%s, SetIdentifier=null]", c.Action, set.Name, set.Type)
		}
		if c.Action != "CREATE" && c.Action != "DELETE" && c.Action != "UPSERT" {
			return nil, invalidInput("1 validation error detected: Value '%s' at 'changeBatch.changes.%d.member.action' failed to satisfy constraint: Member must satisfy enum value set: [DELETE, UPSERT, CREATE]", c.Action, i+1)
		}
		rs := rrset{name: canonicalName(set.Name), typ: strings.ToUpper(set.Type)}
		for _, v := range set.ResourceRecords.ResourceRecord {
			rs.values = append(rs.values, v.Value)
		}
		records += len(rs.values)
		if set.TTL == nil || len(rs.values) == 0 {
			return nil, invalidInput("Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or TrafficPolicyInstanceId], but found none in Change with [Action=%s, Name=%s, Type=%s, SetIdentifier=null]", c.Action, set.Name, set.Type)
		}
		rs.ttl = *set.TTL
		where := fmt.Sprintf("[name='%s', type='%s']", rs.name, rs.typ)
		if !inZone(rs.name, z.name) {
			msgs = append(msgs, fmt.Sprintf("RRSet with DNS name %s is not permitted in zone %s", rs.name, z.name))
			continue
		}
		if bad := badValue(rs); bad != "" {
			msgs = append(msgs, fmt.Sprintf("Invalid Resource Record: 'FATAL problem: %s encountered with '%s''", bad, rs.values[0]))
			continue
		}
		j := slices.IndexFunc(next, func(x rrset) bool { return x.name == rs.name && x.typ == rs.typ })
		switch c.Action {
		case "CREATE":
			if j >= 0 {
				msgs = append(msgs, "Tried to create resource record set "+where+" but it already exists")
				continue
			}
			next = append(next, rs)
		case "UPSERT":
			if j >= 0 {
				next[j] = rs
			} else {
				next = append(next, rs)
			}
		case "DELETE":
			switch {
			case j < 0:
				msgs = append(msgs, "Tried to delete resource record set "+where+" but it was not found")
				continue
			case next[j].ttl != rs.ttl || !slices.Equal(next[j].values, rs.values):
				msgs = append(msgs, "Tried to delete resource record set "+where+" but the values provided do not match the current values")
				continue
			case rs.name == z.name && (rs.typ == "SOA" || rs.typ == "NS"):
				msgs = append(msgs, "A HostedZone must contain exactly one SOA record and at least one NS record for the zone itself.")
				continue
			}
			next = slices.Delete(next, j, j+1)
		}
	}
	if records > 1000 {
		msgs = append(msgs, fmt.Sprintf("Number of records limit of 1000 exceeded (%d)", records))
	}
	if len(msgs) > 0 {
		return nil, &apiError{status: http.StatusBadRequest, code: "InvalidChangeBatch", message: strings.Join(msgs, "; "), messages: msgs}
	}
	sortRRSets(next)
	now := time.Now()
	ch := s.newChange(in.ChangeBatch.Comment, now)
	z.rrsets = next
	z.versions = append(z.versions, dnsVersion{at: ch.insyncAt, rrsets: next})
	return restResult{kids: []node{ch.describe()}}, nil
}

// badValue is what Route 53 would find wrong with a record's values, or "".
func badValue(rs rrset) string {
	if rs.typ != "TXT" && rs.typ != "SPF" {
		return ""
	}
	for _, v := range rs.values {
		if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return "InvalidCharacterString (Value should be enclosed in quotation marks)"
		}
	}
	return ""
}

func sortRRSets(sets []rrset) {
	slices.SortFunc(sets, func(a, b rrset) int {
		if c := strings.Compare(reversedLabels(a.name), reversedLabels(b.name)); c != 0 {
			return c
		}
		return strings.Compare(a.typ, b.typ)
	})
}

func (s *Server) newChange(comment string, now time.Time) *r53Change {
	c := &r53Change{
		id:        "C" + randomUpper(20),
		comment:   comment,
		submitted: now,
		insyncAt:  now.Add(s.dnsDelay),
	}
	s.changes = append(s.changes, c)
	return c
}

func (c *r53Change) describe() node {
	status := "PENDING"
	if visible(c.insyncAt) {
		status = "INSYNC"
	}
	kids := []node{tx("Id", "/change/"+c.id), tx("Status", status), ts("SubmittedAt", c.submitted)}
	if c.comment != "" {
		kids = append(kids, tx("Comment", c.comment))
	}
	return el("ChangeInfo", kids...)
}

// GetChange: GET /2013-04-01/change/{Id}; PENDING until the change has reached
// every name server, then INSYNC; an unknown ID is NoSuchChange (404). Route 53
// API Reference: GetChange.
func (s *Server) r53GetChange(r *request) (any, *apiError) {
	id := r.path[1]
	c := find(s.changes, func(c *r53Change) bool { return c.id == id })
	if c == nil {
		return nil, errorf(http.StatusNotFound, "NoSuchChange", "A change with the specified change ID does not exist.")
	}
	return restResult{kids: []node{c.describe()}}, nil
}

// ListResourceRecordSets: GET /2013-04-01/hostedzone/{Id}/rrset?name=&type=&maxitems=;
// sets sorted by name (labels read from the right), then type; the list starts
// at name (and type); type without name is InvalidInput; maxitems at most 300.
// Route 53 API Reference: ListResourceRecordSets.
func (s *Server) r53ListRecordSets(r *request) (any, *apiError) {
	z := s.zoneByID(r.path[1])
	if z == nil {
		return nil, noSuchZone(r.path[1])
	}
	name, typ := r.form.Get("name"), strings.ToUpper(r.form.Get("type"))
	if typ != "" && name == "" {
		return nil, invalidInput("The input is not valid: type is given without name")
	}
	maxItems, e := r53MaxItems(r.form.Get("maxitems"), 300)
	if e != nil {
		return nil, e
	}
	start := 0
	if name != "" {
		key := reversedLabels(canonicalName(name))
		start = len(z.rrsets)
		for i, rs := range z.rrsets {
			k := reversedLabels(rs.name)
			if k > key || (k == key && rs.typ >= typ) {
				start = i
				break
			}
		}
	}
	page := z.rrsets[start:]
	truncated := len(page) > maxItems
	if truncated {
		page = page[:maxItems]
	}
	items := make([]node, 0, len(page))
	for _, rs := range page {
		vals := make([]node, 0, len(rs.values))
		for _, v := range rs.values {
			vals = append(vals, el("ResourceRecord", tx("Value", v)))
		}
		items = append(items, el("ResourceRecordSet", tx("Name", rs.name), tx("Type", rs.typ),
			tx("TTL", strconv.FormatInt(rs.ttl, 10)), list("ResourceRecords", vals)))
	}
	kids := []node{list("ResourceRecordSets", items), boolean("IsTruncated", truncated)}
	if truncated {
		nx := z.rrsets[start+maxItems]
		kids = append(kids, tx("NextRecordName", nx.name), tx("NextRecordType", nx.typ))
	}
	kids = append(kids, integer("MaxItems", maxItems))
	return restResult{kids: kids}, nil
}

// served is the zone's records as DNS answers them at t.
func (z *hostedZone) served(t time.Time) []rrset {
	i := len(z.versions) - 1
	for i > 0 && z.versions[i].at.After(t) {
		i--
	}
	// Versions older than the one served now are never served again.
	if i > 0 {
		z.versions = z.versions[i:]
	}
	return z.versions[0].rrsets
}

// AddHostedZone creates a public hosted zone for name (with its SOA and NS
// records) and returns its ID (without the "/hostedzone/" prefix).
func (s *Server) AddHostedZone(name string) (string, error) {
	n := canonicalName(name)
	if !validDomainName(n) {
		return "", fmt.Errorf("awstest: %q is not a valid domain name", name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addZone(n, "seed-"+randomHex(12), "", false).id, nil
}

// RecordSet is one resource record set of a hosted zone.
type RecordSet struct {
	Name   string // with the final dot
	Type   string
	TTL    int64
	Values []string
}

// RecordSets returns the record sets of the zone with that ID, as the API
// shows them (ok false when there is no such zone).
func (s *Server) RecordSets(zoneID string) (sets []RecordSet, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	z := s.zoneByID(zoneID)
	if z == nil {
		return nil, false
	}
	for _, rs := range z.rrsets {
		sets = append(sets, RecordSet{Name: rs.name, Type: rs.typ, TTL: rs.ttl, Values: slices.Clone(rs.values)})
	}
	return sets, true
}

// SetRoute53Delay sets how long a Route 53 change stays PENDING, and its
// records invisible over DNS, for changes made from now on (default 0).
func (s *Server) SetRoute53Delay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dnsDelay = d
}
