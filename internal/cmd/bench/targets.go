package main

import (
	"fmt"
	"strings"
)

// The targets, for sizes 64 MiB to 4 GiB at default settings.
const (
	wantPut      = 0.95      // encrypted upload ÷ plain transfer-manager upload
	wantGet      = 0.90      // encrypted authenticated download ÷ plain download
	wantRSS      = 100 << 10 // KiB, peak RSS of a 4 GiB upload or download
	wantFlat     = 16 << 10  // KiB, RSS growth from the smallest size to the largest
	wantSmallPut = 0.95      // 4 KiB objects × 32 workers, ops/s
	wantSmallGet = 0.90
	// 4 KiB objects × 32 workers through branch keys under a KMS root
	// (issue 13), put and get.
	wantSmallBranch = 0.90
	wantCipher      = 0.90 // cipher path ÷ crypto/cipher AES-GCM, in memory
)

type target struct {
	what, wanted, measured, verdict string
}

func ratioTarget(what string, want, got float64, at string) target {
	t := target{what: what, wanted: fmt.Sprintf("≥ %.2f", want), measured: fmt.Sprintf("%.2f", got)}
	if at != "" {
		t.measured += " (" + at + ")"
	}
	if got >= want {
		t.verdict = "PASS"
	} else {
		t.verdict = fmt.Sprintf("SHORT by %.2f (needs %.0f%% more speed)", want-got, (want/got-1)*100)
	}
	return t
}

func printTargets(results []sizeResult, small map[string]float64, cres []cipherResult, cfg config) {
	var ts []target
	if len(results) > 0 {
		// Worst ratio over the sizes.
		worst := func(name string, plain ...string) (float64, string) {
			w, at := 0.0, ""
			for i, r := range results {
				_, best := bestPlain(r.size, r.res, plain...)
				v := mbps(r.size, r.res[name]) / best
				if i == 0 || v < w {
					w, at = v, human(r.size)
				}
			}
			return w, at
		}
		v, at := worst("put-s3c", "put-manager", "put-manager-s3c-settings")
		ts = append(ts, ratioTarget("upload: s3c Uploader ÷ faster plain manager upload", wantPut, v, at))
		v, at = worst("get-s3c-downloader", "get-plain", "get-plain-downloader")
		ts = append(ts, ratioTarget("download: s3c Downloader ÷ faster plain get", wantGet, v, at))
		ts = append(ts, indexTargets(results)...)

		first, last := results[0], results[len(results)-1]
		for _, r := range results {
			if r.size < first.size {
				first = r
			}
			if r.size > last.size {
				last = r
			}
		}
		note := ""
		if last.size < 4<<30 {
			note = fmt.Sprintf(" — largest size run is %s, not 4 GiB", human(last.size))
		}
		for _, o := range []struct{ name, label string }{
			{"put-s3c", "upload (s3c Uploader)"}, {"get-s3c-downloader", "download (s3c Downloader)"}, {"get-s3c-getobject", "download (s3c GetObject, indexed)"},
		} {
			peak, at := int64(0), ""
			for _, r := range results {
				if r.res[o.name].MaxRSS > peak {
					peak, at = r.res[o.name].MaxRSS, human(r.size)
				}
			}
			t := target{what: "peak RSS, " + o.label + note, wanted: "≤ " + mib(wantRSS), measured: mib(peak) + " (" + at + ")", verdict: "PASS"}
			if peak > wantRSS {
				t.verdict = "SHORT by " + mib(peak-wantRSS)
			}
			ts = append(ts, t)
			t = target{what: "RSS flat as size grows, " + o.label, wanted: "≤ +" + mib(wantFlat)}
			if len(results) < 2 {
				t.measured, t.verdict = "one size only", "n/a"
			} else {
				growth := last.res[o.name].MaxRSS - first.res[o.name].MaxRSS
				t.measured = fmt.Sprintf("%+.0f MiB (%s → %s)", float64(growth)/1024, human(first.size), human(last.size))
				t.verdict = "PASS"
				if growth > wantFlat {
					t.verdict = "SHORT by " + mib(growth-wantFlat)
				}
			}
			ts = append(ts, t)
		}
	}
	if small != nil {
		label := fmt.Sprintf("%d×4 KiB, %d workers", cfg.small, cfg.workers)
		ts = append(ts,
			ratioTarget("put ops/s, "+label+": s3c (raw AES keyring) ÷ plain", wantSmallPut, small["put-aes"], ""),
			ratioTarget("get ops/s, "+label+": s3c (raw AES keyring) ÷ plain", wantSmallGet, small["get-aes"], ""),
			ratioTarget("put ops/s, "+label+": s3c (KMS keyring) ÷ plain", wantSmallPut, small["put-kms"], ""),
			ratioTarget("get ops/s, "+label+": s3c (KMS keyring) ÷ plain", wantSmallGet, small["get-kms"], ""),
			ratioTarget("put ops/s, "+label+": s3c (branch keys, KMS root) ÷ plain", wantSmallBranch, small["put-branch"], ""),
			ratioTarget("get ops/s, "+label+": s3c (branch keys, KMS root) ÷ plain", wantSmallBranch, small["get-branch"], ""),
		)
	}
	for _, r := range cres {
		if r.base != "" {
			ts = append(ts, ratioTarget("in-memory "+r.name+" ÷ "+r.base, wantCipher, r.ratio, ""))
		}
	}
	var hs []string
	for _, r := range results {
		hs = append(hs, human(r.size))
	}
	fmt.Printf("### Targets (worst case over the sizes run: %s)\n\n| target | wanted | measured | verdict |\n|---|---|---|---|\n", strings.Join(hs, ", "))
	for _, t := range ts {
		fmt.Printf("| %s | %s | %s | %s |\n", t.what, t.wanted, t.measured, t.verdict)
	}
	fmt.Println()
}
