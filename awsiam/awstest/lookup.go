package awstest

import "strconv"

// find returns the first of xs that match accepts, or nil.
func find[T any](xs []*T, match func(*T) bool) *T {
	for _, x := range xs {
		if match(x) {
			return x
		}
	}
	return nil
}

// findLast returns the last of xs that match accepts, or nil.
func findLast[T any](xs []*T, match func(*T) bool) *T {
	var found *T
	for _, x := range xs {
		if match(x) {
			found = x
		}
	}
	return found
}

// lookupAll looks every key up in order; the first key lookup does not find
// ends it with notFound's error.
func lookupAll[T any](keys []string, lookup func(string) *T, notFound func(key string) *apiError) ([]*T, *apiError) {
	var out []*T
	for _, k := range keys {
		x := lookup(k)
		if x == nil {
			return nil, notFound(k)
		}
		out = append(out, x)
	}
	return out, nil
}

// byARNsOrNames selects what an ELBv2 Describe* call names: by ARN (byARN)
// when arns are given, else by name (the last of all with it) when names are;
// given is false when neither is.
func byARNsOrNames[T any](arns, names []string, all []*T, byARN func(string) *T, name func(*T) string, notFound func(key string) *apiError) (found []*T, given bool, e *apiError) {
	switch {
	case len(arns) > 0:
		found, e = lookupAll(arns, byARN, notFound)
	case len(names) > 0:
		found, e = lookupAll(names, func(n string) *T {
			return findLast(all, func(x *T) bool { return name(x) == n })
		}, notFound)
	default:
		return nil, false, nil
	}
	return found, true, e
}

// elbPage is one page of an ELB or ELBv2 Describe* answer: Marker and PageSize
// (at most 400) from the form, the page's items described under listName, and
// NextMarker when more follow.
func elbPage[T any](form map[string][]string, all []T, listName string, describe func(T) node) (result, *apiError) {
	start, size, e := paging(form, "Marker", "PageSize", 400, 400)
	if e != nil {
		return nil, e
	}
	start = min(start, len(all))
	end := min(start+size, len(all))
	items := make([]node, 0, end-start)
	for _, x := range all[start:end] {
		items = append(items, describe(x))
	}
	res := result{list(listName, items)}
	if end < len(all) {
		res = append(res, tx("NextMarker", strconv.Itoa(end)))
	}
	return res, nil
}
