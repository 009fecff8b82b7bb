package core

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/s3c/s3c/internal/aesgcm"
)

const (
	miB = int64(1) << 20
	giB = int64(1) << 30
)

// Part sizes are held to S3's limits: 5 MiB to 5 GiB, 10,000 parts. A
// huge value is an error, never an overflow.
func TestPlanPartSizeLimits(t *testing.T) {
	for _, c := range []struct {
		part, size int64
		want       int64
		err        string
	}{
		{0, 100, DefaultPartSize, ""},
		{-1, 100, DefaultPartSize, ""},
		{1, 100, 5 * miB, ""},
		{5*miB + 1, -1, 5*miB + 16, ""},
		{64 * miB, 1 * giB, 64 * miB, ""},
		{5 * giB, -1, 5 * giB, ""},
		{5*giB + 1, -1, 0, "PartSize 5368709121 is above S3's limit of 5 GiB"},
		{math.MaxInt64, 100, 0, "PartSize 9223372036854775807 is above S3's limit of 5 GiB"},
		{math.MaxInt64 - 7, -1, 0, "above S3's limit of 5 GiB"},
		{5 * miB, 64 * giB, 7 * miB, ""}, // 10,000 parts need 6.9 MB: raised to whole MiB
		{8 * miB, 64 * giB, 8 * miB, ""},
		{5 * miB, 100 * giB, 11 * miB, ""}, // (past the GCM limit, PlanUpload refuses it earlier)
		{5 * giB, 50000 * giB, 5 * giB, ""},
		{5 * giB, 60000 * giB, 0, "do not fit in S3's 10,000 parts"},
	} {
		got, err := planPartSize(c.part, c.size)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("planPartSize(%d, %d) = %d, %v; want %d", c.part, c.size, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("planPartSize(%d, %d) = %d, %v; want error %q", c.part, c.size, got, err, c.err)
		}
	}
}

// One PUT for anything within one part, parts beyond it; sizes the
// cipher cannot take are refused before any part size is looked at.
func TestPlanUpload(t *testing.T) {
	const def = DefaultPartSize
	for _, c := range []struct {
		name       string
		size, part int64
		want       Plan
		err        string
	}{
		{"empty", 0, 0, Plan{Single: true, PartSize: def}, ""},
		{"one byte", 1, 0, Plan{Single: true, PartSize: def}, ""},
		{"exactly one part", def, 0, Plan{Single: true, PartSize: def}, ""},
		{"one byte over one part", def + 1, 0, Plan{PartSize: def, Parts: 2}, ""},
		{"unknown", -1, 0, Plan{PartSize: def}, ""},
		{"unknown, part raised to 5 MiB", -1, 1, Plan{PartSize: 5 * miB}, ""},
		{"part rounded to 16", 5*miB + 16, 5*miB + 1, Plan{Single: true, PartSize: 5*miB + 16}, ""},
		{"exactly 10,000 parts", 10000 * 5 * miB, 5 * miB, Plan{PartSize: 5 * miB, Parts: 10000}, ""},
		{"one byte past 10,000 parts", 10000*5*miB + 1, 5 * miB, Plan{PartSize: 6 * miB, Parts: 8334}, ""},
		{"GCM limit", aesgcm.MaxPlaintextSize, 0, Plan{PartSize: def, Parts: 8192}, ""},
		{"one byte past the GCM limit", aesgcm.MaxPlaintextSize + 1, 0, Plan{}, "too large"},
		{"MaxInt64 size", math.MaxInt64, 0, Plan{}, "too large"},
		{"MaxInt64 part", 100, math.MaxInt64, Plan{}, "above S3's limit of 5 GiB"},
		{"MaxInt64 part, size unknown", -1, math.MaxInt64, Plan{}, "above S3's limit of 5 GiB"},
		{"5 GiB part", 6 * giB, 5 * giB, Plan{PartSize: 5 * giB, Parts: 2}, ""},
	} {
		got, err := PlanUpload(c.size, c.part)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%s: PlanUpload(%d, %d) = %+v, %v; want %+v", c.name, c.size, c.part, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: PlanUpload(%d, %d) = %+v, %v; want error %q", c.name, c.size, c.part, got, err, c.err)
		}
		if c.err == "too large" && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: %v does not wrap ErrTooLarge", c.name, err)
		}
	}
}

// PutObject sends a body of known length in one PUT whatever its size,
// and plans a stream as an upload in default parts.
func TestPlanPut(t *testing.T) {
	for _, c := range []struct {
		size int64
		want Plan
		err  error
	}{
		{0, Plan{Single: true, PartSize: DefaultPartSize}, nil},
		{DefaultPartSize + 1, Plan{Single: true, PartSize: DefaultPartSize}, nil},
		{5 * giB, Plan{Single: true, PartSize: DefaultPartSize}, nil},
		{-1, Plan{PartSize: DefaultPartSize}, nil},
		{aesgcm.MaxPlaintextSize + 1, Plan{}, ErrTooLarge},
		{math.MaxInt64, Plan{}, ErrTooLarge},
	} {
		got, err := PlanPut(c.size)
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("PlanPut(%d) = %+v, %v; want %+v, %v", c.size, got, err, c.want, c.err)
		}
	}
}
