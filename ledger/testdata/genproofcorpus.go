//go:build ignore

// Command genproofcorpus writes the seed corpus of FuzzParseProof:
//
//	cd ledger && go run testdata/genproofcorpus.go
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

func main() {
	cp := "cleanroom.example/test\n3\nLEGMXhkpWhDcHnthjpQDyE2H16NZONY/JXqvjAQy6rc=\n\n— cleanroom-test-node UY6+k8LGAP5rFt0VrG6pBvzPVo0RMHhzFk1R56NWoXVZkRbU3sYG+LO1hlpQvrmqh/t7sk/WJNK16RdzTKJMcxo9swA=\n"
	h := "RWvrH80WHaz8IznCS8XZtyqOf372hT29fS5+0JLqXUI="
	seeds := map[string]string{
		"pinned":          "c2sp.org/tlog-proof@v1\nextra cmVsZWFzZSA3\nindex 2\n" + h + "\n\n" + cp,
		"no-extra":        "c2sp.org/tlog-proof@v1\nindex 0\n" + h + "\n" + h + "\n\n" + cp,
		"no-hashes":       "c2sp.org/tlog-proof@v1\nindex 0\n\n" + cp,
		"index-leading-0": "c2sp.org/tlog-proof@v1\nindex 02\n" + h + "\n\n" + cp,
		"noncanonical":    "c2sp.org/tlog-proof@v1\nextra AQJ=\nindex 2\n" + h + "\n\n" + cp,
		"truncated":       "c2sp.org/tlog-proof@v1\nindex 2\n" + h + "\n",
		"spec-example":    "c2sp.org/tlog-proof@v1\nextra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\nindex 73894\ngSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n\nexample.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n— example.com/fancylog hI2DJw1roloI=\n",
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParseProof")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		panic(err)
	}
	for name, s := range seeds {
		b := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(s))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o644); err != nil {
			panic(err)
		}
	}
}
