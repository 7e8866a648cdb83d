package awstest

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
	"time"
)

var namespaces = map[string]string{
	"route53": "https://route53.amazonaws.com/doc/2013-04-01/",
	"iam":     "https://iam.amazonaws.com/doc/2010-05-08/",
	"elb":     "http://elasticloadbalancing.amazonaws.com/doc/2012-06-01/",
	"elbv2":   "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/",
}

// node is an XML element of a query-protocol response.
type node struct {
	name string
	text string
	kids []node
}

func el(name string, kids ...node) node { return node{name: name, kids: kids} }
func tx(name, text string) node         { return node{name: name, text: text} }
func mem(kids ...node) node             { return node{name: "member", kids: kids} }
func list(name string, items []node) node {
	return node{name: name, kids: items}
}
func strList(name string, vals []string) node {
	items := make([]node, 0, len(vals))
	for _, v := range vals {
		items = append(items, tx("member", v))
	}
	return list(name, items)
}
func ts(name string, t time.Time) node {
	return tx(name, t.UTC().Format("2006-01-02T15:04:05.000Z"))
}
func boolean(name string, b bool) node { return tx(name, strconv.FormatBool(b)) }
func integer(name string, n int) node  { return tx(name, strconv.Itoa(n)) }

// result is the Result element content of a query response; nil writes none.
type result []node

func (n node) write(b *bytes.Buffer) {
	b.WriteString("<" + n.name + ">")
	if n.kids == nil {
		_ = xml.EscapeText(b, []byte(n.text))
	}
	for _, k := range n.kids {
		k.write(b)
	}
	b.WriteString("</" + n.name + ">")
}

func writeResult(w http.ResponseWriter, r *request, out any) {
	w.Header().Set("X-Amzn-RequestId", r.id)
	if r.service == "acm" {
		if out == nil {
			out = struct{}{}
		}
		data, err := json.Marshal(out)
		if err != nil {
			writeError(w, r, errorf(http.StatusInternalServerError, "InternalServerException", "encoding response: %v", err))
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data)
		return
	}
	if r.service == "route53" {
		writeRESTResult(w, r, out.(restResult))
		return
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString("<" + r.action + `Response xmlns="` + namespaces[r.service] + `">`)
	if res, ok := out.(result); ok && res != nil {
		el(r.action+"Result", res...).write(&b)
	}
	el("ResponseMetadata", tx("RequestId", r.id)).write(&b)
	b.WriteString("</" + r.action + "Response>")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

func writeError(w http.ResponseWriter, r *request, e *apiError) {
	w.Header().Set("X-Amzn-RequestId", r.id)
	if r.service == "acm" {
		data, _ := json.Marshal(map[string]string{"__type": e.code, "message": e.message})
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", e.code)
		w.WriteHeader(e.status)
		_, _ = w.Write(data)
		return
	}
	typ := "Sender"
	if e.status >= 500 {
		typ = "Receiver"
	}
	if r.service == "route53" && e.code == "InvalidChangeBatch" {
		writeInvalidChangeBatch(w, r, e)
		return
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<ErrorResponse xmlns="` + namespaces[r.service] + `">`)
	el("Error", tx("Type", typ), tx("Code", e.code), tx("Message", e.message)).write(&b)
	tx("RequestId", r.id).write(&b)
	b.WriteString("</ErrorResponse>")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(e.status)
	_, _ = w.Write(b.Bytes())
}

// formList returns prefix.member.1, prefix.member.2, … and whether the list was
// present at all (an empty list is sent as "prefix=").
func formList(f map[string][]string, prefix string) ([]string, bool) {
	_, present := f[prefix]
	var out []string
	for i := 1; ; i++ {
		v, ok := f[prefix+".member."+strconv.Itoa(i)]
		if !ok {
			break
		}
		present = true
		out = append(out, v[0])
	}
	return out, present
}

// formStructs returns the fields of prefix.member.N.<field> entries.
func formStructs(f map[string][]string, prefix string, fields ...string) []map[string]string {
	var out []map[string]string
	for i := 1; ; i++ {
		base := prefix + ".member." + strconv.Itoa(i) + "."
		m := map[string]string{}
		found := false
		for _, fl := range fields {
			if v, ok := f[base+fl]; ok {
				m[fl] = v[0]
				found = true
			}
		}
		if !found {
			break
		}
		out = append(out, m)
	}
	return out
}

func formGet(f map[string][]string, k string) string {
	if v := f[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func required(f map[string][]string, keys ...string) *apiError {
	for _, k := range keys {
		if formGet(f, k) == "" {
			return badRequest("ValidationError", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(k))
		}
	}
	return nil
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]|0x20) + s[1:]
}

// epoch is an awsJson timestamp (seconds since the epoch).
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	return []byte(strconv.FormatFloat(float64(tt.UnixMilli())/1000, 'f', -1, 64)), nil
}
