package topic

import (
	"errors"
	"strings"
)

// Sentinel errors returned by the validators.
var (
	// ErrEmpty is returned for an empty topic name or filter.
	ErrEmpty = errors.New("topic: empty")
	// ErrWildcardInName is returned for a topic name containing + or #.
	ErrWildcardInName = errors.New("topic: wildcard in topic name")
	// ErrBadWildcard is returned for a filter with + or # not filling a
	// whole level, or # not last.
	ErrBadWildcard = errors.New("topic: wildcard must fill a whole level and # must be last")
	// ErrNullChar is returned for a topic containing U+0000.
	ErrNullChar = errors.New("topic: contains U+0000")
	// ErrBadShare is returned for a malformed $share/{group}/{filter}.
	ErrBadShare = errors.New("topic: malformed shared subscription")
)

// SharePrefix starts a shared subscription filter: $share/{group}/{filter}.
const SharePrefix = "$share/"

// ValidateName checks an MQTT topic name as used in PUBLISH: non-empty, no
// wildcard characters, no U+0000. UTF-8 well-formedness is the codec's job.
func ValidateName(name string) error {
	if name == "" {
		return ErrEmpty
	}
	for i := 0; i < len(name); i++ {
		switch name[i] {
		case '+', '#':
			return ErrWildcardInName
		case 0:
			return ErrNullChar
		}
	}
	return nil
}

// ValidateFilter checks an MQTT topic filter as used in SUBSCRIBE and
// UNSUBSCRIBE, including the $share/{group}/{filter} form.
func ValidateFilter(filter string) error {
	if filter == "" {
		return ErrEmpty
	}
	if strings.HasPrefix(filter, SharePrefix) {
		_, inner, err := SplitShare(filter)
		if err != nil {
			return err
		}
		filter = inner
	}
	return validatePlainFilter(filter)
}

func validatePlainFilter(filter string) error {
	if filter == "" {
		return ErrEmpty
	}
	levelStart := 0
	for i := 0; i < len(filter); i++ {
		switch filter[i] {
		case 0:
			return ErrNullChar
		case '+':
			if i != levelStart || (i+1 < len(filter) && filter[i+1] != '/') {
				return ErrBadWildcard
			}
		case '#':
			if i != levelStart || i != len(filter)-1 {
				return ErrBadWildcard
			}
		case '/':
			levelStart = i + 1
		}
	}
	return nil
}

// SplitShare splits "$share/{group}/{filter}" into group and filter. The group
// must be non-empty and contain no '/', '+' or '#'; the filter must be
// non-empty.
func SplitShare(filter string) (group, inner string, err error) {
	rest, ok := strings.CutPrefix(filter, SharePrefix)
	if !ok {
		return "", "", ErrBadShare
	}
	group, inner, ok = strings.Cut(rest, "/")
	if !ok || group == "" || inner == "" || strings.ContainsAny(group, "+#") {
		return "", "", ErrBadShare
	}
	return group, inner, nil
}
