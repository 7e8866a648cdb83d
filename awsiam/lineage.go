package awsiam

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Lineage records live in the tags of the certificates certup uploads, where
// every host and every run reads them (IAM server certificate tags, ACM
// certificate tags). For a lineage L a certificate C carries:
//
//	certup:lineage:L   = G            C belongs to L; G is its generation (1 + its predecessors')
//	certup:prev:L      = P            the listeners C replaced served P, unless listed below
//	certup:prev:L:N    = Q h1 h2 …    … except listeners h1, h2, … (N = 1, 2, …), which served Q
//	certup:restored:L  = C …          a rollback moved listeners from C … back to this certificate
//
// P and Q are certificate references (CertRef: 16 hex digits of the SHA-256 of
// the ARN), h1… listener references (ListenerRef: 8 hex digits). The
// predecessor most listeners served needs no listener list, so a rotation of
// 200 listeners off one certificate costs two tags; every further distinct
// predecessor costs one tag per 26 of its listeners. A certificate may belong
// to several lineages (the same certificate rotated in by two deployments):
// each has its own keys and a prune deletes only what belongs to its lineage
// alone.
const (
	tagLineage  = "certup:lineage:"
	tagPrev     = "certup:prev:"
	tagRestored = "certup:restored:"
	// maxTags is how many tags IAM and ACM allow per certificate.
	maxTags = 50
	// maxTagValue is the longest tag value IAM and ACM take.
	maxTagValue = 256
	certRefLen  = 16
	listRefLen  = 8
)

// maxLineageLen keeps "certup:prev:<lineage>:<n>" within the 128 characters of
// a tag key.
const maxLineageLen = 64

var lineageRE = regexp.MustCompile(`^[a-z0-9_.=+@-]+$`)

// ValidLineage reports whether name can name a lineage: 1 to 64 lower-case
// letters, digits and _.=+@- (characters both IAM and ACM take in tag keys, no
// colon; lower case because IAM tells tag keys apart regardless of case).
func ValidLineage(name string) error {
	if name == "" || len(name) > maxLineageLen || !lineageRE.MatchString(name) {
		return fmt.Errorf("lineage %q: 1 to %d lower-case letters, digits and _.=+@-: %w", name, maxLineageLen, ErrInvalidLineage)
	}
	return nil
}

// CertRef is how a lineage record names a certificate: the first 16 hex
// digits of the SHA-256 of its ARN.
func CertRef(arn string) string {
	sum := sha256.Sum256([]byte(arn))
	return hex.EncodeToString(sum[:])[:certRefLen]
}

// ListenerRef is how a lineage record names a listener: the first 8 hex digits
// of the SHA-256 of its region and identity (a classic ELB's name is unique in
// its region only).
func ListenerRef(region string, l Listener) string {
	id := l.ARN
	if l.ELB != "" {
		id = region + "/" + l.ELB + ":" + strconv.Itoa(int(l.Port))
	}
	if l.SNI {
		id = "sni " + id
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])[:listRefLen]
}

// DeriveLineage names the lineage of a target set that has none yet: "t-" and
// 12 hex digits of the SHA-256 of the sorted targets. Two deployments share a
// derived lineage only when they name the same listeners.
func DeriveLineage(targets []string) string {
	ts := slices.Clone(targets)
	sort.Strings(ts)
	sum := sha256.Sum256([]byte(strings.Join(ts, "\n")))
	return "t-" + hex.EncodeToString(sum[:])[:12]
}

// ResolveLineage picks the lineage of a rotation: explicit when given;
// otherwise the one lineage the certificates the targets serve belong to
// (found); otherwise derived. When they belong to several, derived decides if
// it is one of them, else the choice is the user's.
func ResolveLineage(explicit string, found []string, derived string) (string, error) {
	if explicit != "" {
		return explicit, ValidLineage(explicit)
	}
	found = slices.Compact(slices.Sorted(slices.Values(found)))
	switch {
	case len(found) == 0:
		return derived, nil
	case len(found) == 1:
		return found[0], nil
	case slices.Contains(found, derived):
		return derived, nil
	}
	return "", fmt.Errorf("the targets serve certificates of lineages %s: %w", strings.Join(found, ", "), ErrLineageAmbiguous)
}

// Record is what a certificate's tags say of one lineage.
type Record struct {
	Lineage    string
	Generation int
	// Default is the certificate (CertRef) the listeners not in Others served
	// before this one ("" when none is recorded).
	Default string
	// Others maps a listener (ListenerRef) to the certificate it served, where
	// that is not Default.
	Others map[string]string
	// keys is how many prev:L:N tags the certificate holds now.
	keys int
}

// Predecessor is the certificate (CertRef) the listener served before this
// one, "" when the record does not say.
func (r *Record) Predecessor(listener string) string {
	if p, ok := r.Others[listener]; ok {
		return p
	}
	return r.Default
}

// Predecessors are all certificates (CertRef) the record names.
func (r *Record) Predecessors() []string {
	set := map[string]bool{}
	if r.Default != "" {
		set[r.Default] = true
	}
	for _, p := range r.Others {
		set[p] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// Records reads the lineage records in a certificate's tags, by lineage. Tags
// that are not certup's, or that do not parse, are ignored.
func Records(tags []Tag) map[string]*Record {
	out := map[string]*Record{}
	get := func(l string) *Record {
		if out[l] == nil {
			out[l] = &Record{Lineage: l, Others: map[string]string{}}
		}
		return out[l]
	}
	for _, t := range tags {
		if l, ok := strings.CutPrefix(t.Key, tagLineage); ok && ValidLineage(l) == nil {
			g, _ := strconv.Atoi(t.Value)
			get(l).Generation = g
		}
	}
	for _, t := range tags {
		rest, ok := strings.CutPrefix(t.Key, tagPrev)
		if !ok {
			continue
		}
		l, n, hasN := strings.Cut(rest, ":")
		r := out[l]
		if r == nil {
			continue // a record without membership is not one
		}
		fields := strings.Fields(t.Value)
		if !hasN {
			if len(fields) == 1 && len(fields[0]) == certRefLen {
				r.Default = fields[0]
			}
			continue
		}
		if _, err := strconv.Atoi(n); err != nil {
			continue
		}
		r.keys++
		if len(fields) < 2 || len(fields[0]) != certRefLen {
			continue
		}
		for _, h := range fields[1:] {
			r.Others[h] = fields[0]
		}
	}
	return out
}

// Lineages are the lineages a certificate's tags make it a member of.
func Lineages(tags []Tag) []string {
	return slices.Sorted(maps.Keys(Records(tags)))
}

// MergeRecord is the record of lineage after a rotation moved the listeners
// of switched (ListenerRef → CertRef of what each served) to the certificate
// old is the record of (nil: none yet). What old says of other listeners
// stays; the default stays the old one's, or becomes the predecessor most
// switched listeners served.
func MergeRecord(lineage string, old *Record, switched map[string]string, generation int) *Record {
	r := &Record{Lineage: lineage, Generation: generation, Others: map[string]string{}}
	if old != nil {
		r.Default = old.Default
		maps.Copy(r.Others, old.Others)
		r.keys = old.keys
		r.Generation = max(r.Generation, old.Generation)
	}
	if r.Default == "" {
		count := map[string]int{}
		for _, p := range switched {
			count[p]++
		}
		for _, p := range slices.Sorted(maps.Keys(count)) {
			if count[p] > count[r.Default] {
				r.Default = p
			}
		}
	}
	for l, p := range switched {
		if p == r.Default {
			delete(r.Others, l)
		} else {
			r.Others[l] = p
		}
	}
	return r
}

// RestoredFrom is what a rollback in lineage wrote on the certificate it moved
// listeners back to: the certificates (CertRef) it moved them from.
func RestoredFrom(tags []Tag, lineage string) []string {
	for _, t := range tags {
		if t.Key == tagRestored+lineage {
			return strings.Fields(t.Value)
		}
	}
	return nil
}

// restoredTag marks a certificate as the one a rollback in lineage moved
// listeners back to, from the certificates from (CertRefs).
func restoredTag(lineage string, from []string) Tag {
	return Tag{Key: tagRestored + lineage, Value: strings.Join(slices.Compact(slices.Sorted(slices.Values(from))), " ")}
}

// markedLineages are the lineages a certificate is a member of or was
// restored in.
func markedLineages(tags []Tag) []string {
	out := Lineages(tags)
	for _, t := range tags {
		if l, ok := strings.CutPrefix(t.Key, tagRestored); ok && ValidLineage(l) == nil {
			out = append(out, l)
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(out)))
}

// Tags are the tags that write r, including an empty value for each prev:L:N
// key the certificate held beyond those r needs (so that no stale list stays).
func (r *Record) Tags() []Tag {
	tags := []Tag{{Key: tagLineage + r.Lineage, Value: strconv.Itoa(r.Generation)}}
	if r.Default != "" {
		tags = append(tags, Tag{Key: tagPrev + r.Lineage, Value: r.Default})
	}
	byPred := map[string][]string{}
	for l, p := range r.Others {
		byPred[p] = append(byPred[p], l)
	}
	n := 0
	perTag := (maxTagValue - certRefLen) / (listRefLen + 1)
	for _, p := range slices.Sorted(maps.Keys(byPred)) {
		ls := byPred[p]
		sort.Strings(ls)
		for chunk := range slices.Chunk(ls, perTag) {
			n++
			tags = append(tags, Tag{Key: tagPrev + r.Lineage + ":" + strconv.Itoa(n), Value: p + " " + strings.Join(chunk, " ")})
		}
	}
	for n < r.keys {
		n++
		tags = append(tags, Tag{Key: tagPrev + r.Lineage + ":" + strconv.Itoa(n), Value: ""})
	}
	return tags
}

// TagChanges are the tags of want that existing does not hold with the same
// value (what a TagServerCertificate or AddTagsToCertificate must write), or an
// error when the certificate would hold more tags than AWS allows.
func TagChanges(existing, want []Tag) ([]Tag, error) {
	have := map[string]string{}
	for _, t := range existing {
		have[t.Key] = t.Value
	}
	var out []Tag
	total := len(have)
	for _, t := range want {
		v, ok := have[t.Key]
		if ok && v == t.Value {
			continue
		}
		if !ok {
			total++
		}
		out = append(out, t)
	}
	if total > maxTags {
		return nil, fmt.Errorf("the lineage record needs %d tags on the certificate, AWS allows %d: %w", total, maxTags, ErrTooManyTags)
	}
	return out, nil
}
