package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultAccountID is the account every ARN of the endpoint names unless
// Options.AccountID says otherwise.
const DefaultAccountID = "123456789012"

// maxBodyBytes bounds a request body; AWS refuses larger query requests too.
const maxBodyBytes = 1 << 20

// Options configure a Server. The zero value is usable.
type Options struct {
	// Addr is the address to listen on; default "127.0.0.1:0" (a free port).
	Addr string
	// AccountID appears in every ARN; default DefaultAccountID.
	AccountID string
	// PropagationDelay is how long after an IAM upload or ACM import the
	// load-balancer APIs still answer CertificateNotFound for that certificate.
	PropagationDelay time.Duration
	// Latency is added to every call.
	Latency time.Duration
	// MaxServerCertificates is the IAM quota (LimitExceeded beyond it); default 20,
	// the AWS default.
	MaxServerCertificates int
	// IAMTagPageSize, when positive, caps the tags of one ListServerCertificateTags
	// page below MaxItems, as IAM may ("IAM might return fewer results, even when
	// more results are available"), so that clients must follow Marker.
	IAMTagPageSize int
	// Logger receives one debug line per call; nil discards.
	Logger *slog.Logger
	// DNSAddr is where the Route 53 zones are answered over DNS (UDP and TCP);
	// default "127.0.0.1:0" (a free port, see Server.DNSAddr).
	DNSAddr string
}

// Fault makes calls to an operation fail.
type Fault struct {
	// Op is "<service>:<Action>" (e.g. "elbv2:ModifyListener"), "<service>:*", or
	// "*" for every operation.
	Op string
	// Code is the AWS error code returned, e.g. "Throttling", "ServiceFailure",
	// "ThrottlingException" (ACM). Default: "ServiceFailure" for iam,
	// "InternalFailure" for elb/elbv2, "InternalServerException" for acm.
	Code string
	// Message is the error message; default "injected fault".
	Message string
	// Status is the HTTP status; default derived from Code (500 for server
	// failures, 404/409 for IAM's not-found/conflict codes, otherwise 400).
	Status int
	// Times is how many calls fail; 0 means every call until removed.
	Times int
	// Skip lets this many matching calls through before the fault starts.
	Skip int
}

type fault struct {
	Fault
	id int
}

// Server is the local AWS endpoint. It is safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	ln       net.Listener
	srv      *http.Server
	url      string
	closeOne sync.Once

	mu         sync.Mutex
	propDelay  time.Duration
	latency    map[string]time.Duration
	faults     []*fault
	nextFault  int
	calls      map[string]int
	callLog    []string
	mutating   int
	iamCerts   map[string]*serverCert // lower-case name → certificate
	regions    map[string]*regionState
	idSequence int
	zones      []*hostedZone // Route 53 is global
	changes    []*r53Change
	dnsDelay   time.Duration
	dns        *dnsServer
	acmCA      *acmCA
	// acmIssueDelay: how long a requested ACM certificate stays pending.
	acmIssueDelay time.Duration
}

// New starts a Server. Close it when done.
func New(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.AccountID == "" {
		opts.AccountID = DefaultAccountID
	}
	if opts.MaxServerCertificates == 0 {
		opts.MaxServerCertificates = 20
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.DNSAddr == "" {
		opts.DNSAddr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", opts.Addr, err)
	}
	s := &Server{
		opts:      opts,
		log:       log,
		ln:        ln,
		url:       "http://" + ln.Addr().String(),
		propDelay: opts.PropagationDelay,
		latency:   map[string]time.Duration{"*": opts.Latency},
		calls:     map[string]int{},
		iamCerts:  map[string]*serverCert{},
		regions:   map[string]*regionState{},
	}
	if s.dns, err = s.startDNS(opts.DNSAddr); err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the endpoint URL, e.g. "http://127.0.0.1:40123".
func (s *Server) URL() string { return s.url }

// AccountID is the account in the endpoint's ARNs.
func (s *Server) AccountID() string { return s.opts.AccountID }

// Close stops the server and closes open connections.
func (s *Server) Close() {
	s.closeOne.Do(func() {
		s.dns.close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
	})
}

// SetPropagationDelay sets the delay for certificates uploaded from now on.
func (s *Server) SetPropagationDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.propDelay = d
}

// Propagate makes every certificate uploaded so far visible to the
// load-balancer APIs now, as if the propagation delay had passed.
func (s *Server) Propagate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, c := range s.iamCerts {
		c.visibleAt = now
	}
	for _, rs := range s.regions {
		for _, c := range rs.acm {
			c.visibleAt = now
		}
	}
}

// SetLatency adds d to every call of op ("<service>:<Action>", or "*" for all
// operations; a per-operation latency replaces the global one).
func (s *Server) SetLatency(op string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency[op] = d
}

// Inject adds a fault and returns a function that removes it.
func (s *Server) Inject(f Fault) (remove func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextFault++
	ft := &fault{Fault: f, id: s.nextFault}
	s.faults = append(s.faults, ft)
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.removeFaultLocked(ft.id)
	}
}

// Throttle makes the next n calls of op (0: all calls) fail with the service's
// throttling error, which the SDK retries.
func (s *Server) Throttle(op string, n int) (remove func()) {
	code := "Throttling"
	if strings.HasPrefix(op, "acm:") {
		code = "ThrottlingException"
	}
	return s.Inject(Fault{Op: op, Code: code, Message: "Rate exceeded", Times: n})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

func (s *Server) removeFaultLocked(id int) {
	for i, f := range s.faults {
		if f.id == id {
			s.faults = append(s.faults[:i], s.faults[i+1:]...)
			return
		}
	}
}

// Calls reports how many requests op received ("<service>:<Action>", or "*" for
// the total), including requests that failed.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if op == "*" {
		n := 0
		for _, c := range s.calls {
			n += c
		}
		return n
	}
	return s.calls[op]
}

// MutatingCalls reports how many requests to operations that change state the
// server received, including requests that failed.
func (s *Server) MutatingCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mutating
}

// CallLog returns the operations called so far, in order.
func (s *Server) CallLog() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.callLog...)
}

// ResetCalls zeroes the call counters and the call log.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
	s.callLog = nil
	s.mutating = 0
}

// Operations lists the operations the server implements.
func Operations() []string {
	var ops []string
	for svc, m := range handlers {
		for a := range m {
			ops = append(ops, svc+":"+a)
		}
	}
	sort.Strings(ops)
	return ops
}

// IsMutating reports whether op changes state.
func IsMutating(op string) bool { return mutatingOps[op] }

var mutatingOps = map[string]bool{
	"iam:UploadServerCertificate":               true,
	"iam:DeleteServerCertificate":               true,
	"iam:TagServerCertificate":                  true,
	"iam:UntagServerCertificate":                true,
	"acm:ImportCertificate":                     true,
	"acm:DeleteCertificate":                     true,
	"acm:AddTagsToCertificate":                  true,
	"elb:CreateLoadBalancer":                    true,
	"elb:SetLoadBalancerListenerSSLCertificate": true,
	"elb:CreateAppCookieStickinessPolicy":       true,
	"elb:CreateLBCookieStickinessPolicy":        true,
	"elb:SetLoadBalancerPoliciesOfListener":     true,
	"elb:DeleteLoadBalancerPolicy":              true,
	"elbv2:ModifyListener":                      true,
	"elbv2:AddListenerCertificates":             true,
	"elbv2:RemoveListenerCertificates":          true,
	"elbv2:ModifyTargetGroupAttributes":         true,
	"acm:RequestCertificate":                    true,
	"route53:CreateHostedZone":                  true,
	"route53:ChangeResourceRecordSets":          true,
}

// request is one decoded call.
type request struct {
	ctx     context.Context
	service string // iam, acm, elb, elbv2, route53
	action  string
	region  string
	form    url.Values // query protocols; route53: the URI's query
	body    []byte     // JSON protocol, route53's XML body
	path    []string   // route53: the URI path's segments after the API version
	id      string
}

func (r *request) op() string { return r.service + ":" + r.action }

// apiError is an AWS error response.
type apiError struct {
	status  int
	code    string
	message string
	// messages are InvalidChangeBatch's (Route 53), one per change in error.
	messages []string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, format string, a ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, a...)}
}

func badRequest(code, format string, a ...any) *apiError {
	return errorf(http.StatusBadRequest, code, format, a...)
}

type handlerFunc func(s *Server, r *request) (any, *apiError)

// handlers maps service → action → handler; filled by the per-service files.
var handlers = map[string]map[string]handlerFunc{}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	req, aerr := s.decode(hr)
	if aerr != nil {
		s.log.Debug("awstest: bad request", "method", hr.Method, "path", hr.URL.Path, "error", aerr.Error())
		writeError(w, req, aerr)
		return
	}
	op := req.op()
	delay, ft := s.admit(op)
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-hr.Context().Done():
			t.Stop()
			return
		}
	}
	if ft != nil {
		s.log.Debug("awstest: injected fault", "op", op, "code", ft.code)
		writeError(w, req, ft)
		return
	}
	h := handlers[req.service][req.action]
	if h == nil {
		switch req.service {
		case "acm":
			writeError(w, req, badRequest("UnknownOperationException", "unknown operation %s", req.action))
		case "route53":
			writeError(w, req, errorf(http.StatusNotFound, "UnknownOperationException", "%s is not served here", req.action))
		default:
			writeError(w, req, badRequest("InvalidAction", "Could not find operation %s for version %s", req.action, req.form.Get("Version")))
		}
		return
	}
	s.mu.Lock()
	out, aerr := h(s, req)
	s.mu.Unlock()
	if aerr != nil {
		s.log.Debug("awstest: call failed", "op", op, "region", req.region, "code", aerr.code)
		writeError(w, req, aerr)
		return
	}
	s.log.Debug("awstest: call", "op", op, "region", req.region)
	writeResult(w, req, out)
}

// admit counts the call and returns its latency and an injected fault, if any.
func (s *Server) admit(op string) (time.Duration, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	s.callLog = append(s.callLog, op)
	if mutatingOps[op] {
		s.mutating++
	}
	delay, ok := s.latency[op]
	if !ok {
		delay = s.latency["*"]
	}
	svc, _, _ := strings.Cut(op, ":")
	for _, f := range s.faults {
		if f.Op != "*" && f.Op != op && f.Op != svc+":*" {
			continue
		}
		if f.Skip > 0 {
			f.Skip--
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.removeFaultLocked(f.id)
			}
		}
		return delay, faultError(svc, f.Fault)
	}
	return delay, nil
}

func faultError(svc string, f Fault) *apiError {
	code := f.Code
	if code == "" {
		switch svc {
		case "iam":
			code = "ServiceFailure"
		case "acm":
			code = "InternalServerException"
		case "route53":
			code = "ServiceUnavailable"
		default:
			code = "InternalFailure"
		}
	}
	msg := f.Message
	if msg == "" {
		msg = "injected fault"
	}
	status := f.Status
	if status == 0 {
		switch code {
		case "ServiceFailure", "InternalFailure", "InternalServerException", "InternalError":
			status = http.StatusInternalServerError
		case "ServiceUnavailable":
			status = http.StatusServiceUnavailable
		case "NoSuchEntity", "NoSuchHostedZone", "NoSuchChange":
			status = http.StatusNotFound
		case "EntityAlreadyExists", "DeleteConflict", "LimitExceeded", "ConcurrentModification":
			status = http.StatusConflict
		default:
			status = http.StatusBadRequest
		}
	}
	return &apiError{status: status, code: code, message: msg}
}

// decode reads the service, region and action of a request.
func (s *Server) decode(hr *http.Request) (*request, *apiError) {
	req := &request{ctx: hr.Context(), id: newRequestID(), service: "iam", region: "us-east-1"}
	if hr.Method != http.MethodPost && hr.Method != http.MethodGet {
		return req, errorf(http.StatusMethodNotAllowed, "InvalidAction", "method %s not allowed", hr.Method)
	}
	signingService, region, ok := credentialScope(hr.Header.Get("Authorization"))
	if !ok {
		if q := hr.URL.Query().Get("X-Amz-Credential"); q != "" {
			signingService, region, ok = credentialScope("Credential=" + q)
		}
	}
	if !ok {
		return req, errorf(http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	req.region = region
	body, err := io.ReadAll(io.LimitReader(hr.Body, maxBodyBytes+1))
	if err != nil {
		return req, badRequest("MalformedQueryString", "reading request body: %v", err)
	}
	if len(body) > maxBodyBytes {
		return req, errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "request body larger than %d bytes", maxBodyBytes)
	}
	switch signingService {
	case "acm":
		req.service = "acm"
		target := hr.Header.Get("X-Amz-Target")
		prefix, action, found := strings.Cut(target, ".")
		if !found || prefix != "CertificateManager" {
			return req, badRequest("UnknownOperationException", "missing or unknown X-Amz-Target %q", target)
		}
		req.action = action
		req.body = body
		return req, nil
	case "route53":
		req.service = "route53"
		req.region = "us-east-1" // Route 53 is global
		req.body = body
		req.form = hr.URL.Query()
		action, path, e := route53Route(hr.Method, hr.URL.Path)
		req.action, req.path = action, path
		return req, e
	case "iam", "elasticloadbalancing":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return req, badRequest("MalformedQueryString", "request body is not a form: %v", err)
		}
		for k, v := range hr.URL.Query() {
			if k == "Action" || k == "Version" || !strings.HasPrefix(k, "X-Amz-") {
				form[k] = append(form[k], v...)
			}
		}
		req.form = form
		req.action = form.Get("Action")
		if signingService == "iam" {
			req.service = "iam"
			req.region = "us-east-1" // IAM is global
		} else {
			switch v := form.Get("Version"); v {
			case "2012-06-01":
				req.service = "elb"
			case "2015-12-01":
				req.service = "elbv2"
			default:
				req.service = "elb"
				return req, badRequest("InvalidParameterValue", "unsupported Version %q (want 2012-06-01 or 2015-12-01)", v)
			}
		}
		if req.action == "" {
			return req, badRequest("MissingAction", "Action is required")
		}
		return req, nil
	default:
		return req, badRequest("UnrecognizedClientException", "service %q is not served here (iam, acm, elasticloadbalancing, route53)", signingService)
	}
}

// credentialScope returns service and region from a SigV4 Authorization header.
func credentialScope(auth string) (service, region string, ok bool) {
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return "", "", false
	}
	cred := auth[i+len("Credential="):]
	if j := strings.IndexAny(cred, ", "); j >= 0 {
		cred = cred[:j]
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[2] == "" || parts[3] == "" {
		return "", "", false
	}
	return parts[3], parts[2], true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func randomUpper(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
