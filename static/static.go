// Package static holds the console's own stylesheet and script, embedded
// into the binary so a deployed console serves them without a file system.
package static

import "embed"

// FS holds css/console.css and js/console.js. Serve it under /static/ so
// that /static/css/console.css resolves to css/console.css in FS.
//
//go:embed css js
var FS embed.FS
