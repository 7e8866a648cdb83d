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
	"time"
)

// Lineage records live in the tags of the certificates certup uploads, where
// every host and every run reads them (IAM server certificate tags, ACM
// certificate tags). For a lineage L a certificate C carries:
//
//	certup:lineage:L   = G            C belongs to L; G is its generation (1 + its predecessors')
//	certup:prev:L:N    = P h1 h2 …    listeners h1, h2, … (N = 1, 2, …) served P before L's rotation moved them to C
//	certup:restored:L  = C1 …         a rollback moved listeners from C1 … back to this certificate
//	certup:rolledback:L = T           a rollback moved L's listeners off this certificate at T (RFC 3339);
//	                                  a rotation to it holds them where they are until forced ("" once cleared)
//	certup:origin      = L            certup uploaded C for lineage L (only that lineage may delete it)
//
// P is a certificate reference (CertRef: 16 hex digits of the SHA-256 of the
// ARN), h1… listener references (ListenerRef: 8 hex digits). Every listener is
// listed, 26 to a tag, so that a record says exactly which listeners it is
// about: a certificate other deployments also serve tells each of them nothing
// of the others. 200 listeners off one certificate take 8 tags beside the
// membership; IAM and ACM allow 50 per certificate. A certificate may belong
// to several lineages (the same certificate rotated in by two deployments):
// each has its own keys and a prune deletes only what its lineage uploaded and
// no other lineage uses.
const (
	tagLineage  = "certup:lineage:"
	tagPrev     = "certup:prev:"
	tagRestored = "certup:restored:"
	// tagRolledBack is the longest key prefix: with a lineage of
	// maxLineageLen, 82 of the 128 characters a tag key may have.
	tagRolledBack = "certup:rolledback:"
	tagOrigin     = "certup:origin"
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
	// Prev maps each listener (ListenerRef) the lineage moved to the
	// certificate to the certificate (CertRef) it served before.
	Prev map[string]string
	// keys is how many prev:L:N tags the certificate holds now.
	keys int
}

// Predecessor is the certificate (CertRef) the listener served before this
// one, "" when the record does not list the listener.
func (r *Record) Predecessor(listener string) string { return r.Prev[listener] }

// Predecessors are all certificates (CertRef) the record names.
func (r *Record) Predecessors() []string {
	return slices.Compact(slices.Sorted(maps.Values(r.Prev)))
}

// Records reads the lineage records in a certificate's tags, by lineage. Tags
// that are not certup's, or that do not parse, are ignored.
func Records(tags []Tag) map[string]*Record {
	out := map[string]*Record{}
	for _, t := range tags {
		if l, ok := strings.CutPrefix(t.Key, tagLineage); ok && ValidLineage(l) == nil {
			g, _ := strconv.Atoi(t.Value)
			out[l] = &Record{Lineage: l, Generation: g, Prev: map[string]string{}}
		}
	}
	for _, t := range tags {
		rest, ok := strings.CutPrefix(t.Key, tagPrev)
		if !ok {
			continue
		}
		l, n, _ := strings.Cut(rest, ":")
		r := out[l]
		if _, err := strconv.Atoi(n); r == nil || err != nil {
			continue // a record without membership is not one
		}
		r.keys++
		fields := strings.Fields(t.Value)
		if len(fields) < 2 || len(fields[0]) != certRefLen {
			continue
		}
		for _, h := range fields[1:] {
			r.Prev[h] = fields[0]
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
// old is the record of (nil: none yet); what old says of other listeners
// stays.
func MergeRecord(lineage string, old *Record, switched map[string]string, generation int) *Record {
	r := &Record{Lineage: lineage, Generation: generation, Prev: map[string]string{}}
	if old != nil {
		maps.Copy(r.Prev, old.Prev)
		r.keys = old.keys
		r.Generation = max(r.Generation, old.Generation)
	}
	maps.Copy(r.Prev, switched)
	return r
}

// Tags are the tags that write r, including an empty value for each prev:L:N
// key the certificate held beyond those r needs (so that no stale list stays).
func (r *Record) Tags() []Tag {
	tags := []Tag{{Key: tagLineage + r.Lineage, Value: strconv.Itoa(r.Generation)}}
	byPred := map[string][]string{}
	for l, p := range r.Prev {
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

// Origin is the lineage certup uploaded the certificate for ("" when certup
// did not upload it for one: a rotation that moves listeners to a certificate
// already there records it, but never makes it its own to delete).
func Origin(tags []Tag) string {
	for _, t := range tags {
		if t.Key == tagOrigin {
			return t.Value
		}
	}
	return ""
}

// originTag marks a new upload as lineage's own.
func originTag(lineage string) Tag { return Tag{Key: tagOrigin, Value: lineage} }

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

// restoredLineages are the lineages a rollback marked the certificate in.
func restoredLineages(tags []Tag) []string {
	var out []string
	for _, t := range tags {
		if l, ok := strings.CutPrefix(t.Key, tagRestored); ok && ValidLineage(l) == nil {
			out = append(out, l)
		}
	}
	return out
}

// listingLineages are the lineages whose record on a certificate lists
// listener (ListenerRef): the lineages that moved that listener to it.
func listingLineages(tags []Tag, listener string) []string {
	var out []string
	for l, rec := range Records(tags) {
		if rec.Predecessor(listener) != "" {
			out = append(out, l)
		}
	}
	return out
}

// RolledBackAt is when a rollback in lineage moved listeners off the
// certificate whose tags these are (zero: never, or a rotation to it since
// cleared the mark).
func RolledBackAt(tags []Tag, lineage string) time.Time {
	for _, t := range tags {
		if t.Key == tagRolledBack+lineage {
			at, _ := time.Parse(time.RFC3339, t.Value)
			return at
		}
	}
	return time.Time{}
}

// rolledBackFrom reports whether a rollback in lineage ("": any) moved
// listeners off the certificate whose tags these are, with a mark not
// cleared since.
func rolledBackFrom(tags []Tag, lineage string) bool {
	return slices.ContainsFunc(tags, func(t Tag) bool {
		l, ok := strings.CutPrefix(t.Key, tagRolledBack)
		return ok && (lineage == "" || l == lineage) && !RolledBackAt(tags, l).IsZero()
	})
}

// rolledBackTag marks a certificate as one a rollback in lineage moved
// listeners off at (the zero time clears the mark, in the one tag it had).
func rolledBackTag(lineage string, at time.Time) Tag {
	v := ""
	if !at.IsZero() {
		v = at.UTC().Format(time.RFC3339)
	}
	return Tag{Key: tagRolledBack + lineage, Value: v}
}

// clearRolledBack is the tag that clears lineage's rolled-back mark on a
// certificate that carries one (none when it carries none).
func clearRolledBack(tags []Tag, lineage string) []Tag {
	if RolledBackAt(tags, lineage).IsZero() {
		return nil
	}
	return []Tag{rolledBackTag(lineage, time.Time{})}
}
