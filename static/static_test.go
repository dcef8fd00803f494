package static

import (
	"io/fs"
	"strings"
	"testing"
)

func TestFSHoldsAssets(t *testing.T) {
	for _, name := range []string{"css/console.css", "js/console.js"} {
		t.Run(name, func(t *testing.T) {
			b, err := fs.ReadFile(FS, name)
			if err != nil {
				t.Fatalf("read %s: %v", name, err)
			}
			if len(b) == 0 {
				t.Fatalf("%s is empty", name)
			}
		})
	}
}

func TestCSSHasEnvironmentBanners(t *testing.T) {
	b, err := fs.ReadFile(FS, "css/console.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, class := range []string{".env-production", ".env-staging", ".env-development", ".env-demo"} {
		if !strings.Contains(string(b), class) {
			t.Errorf("console.css has no %s rule", class)
		}
	}
}
