package views

import (
	"strings"
	"testing"
)

// TestConnectionsQueryHidden renders every session table with statements
// hidden, as viewers below operator see them, and shown.
func TestConnectionsQueryHidden(t *testing.T) {
	tests := []struct {
		name   string
		hidden bool
	}{{"hidden", true}, {"shown", false}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := sampleConnections()
			row := BackendRow{PID: 7, Source: "atum:api:m1:7", State: "idle in transaction", Query: "SELECT '?'", QueryHidden: tt.hidden}
			if tt.hidden {
				row.Query = ""
			}
			m.LongXacts, m.IdleInTx = []BackendRow{row}, []BackendRow{row}
			m.LockWaits = []LockWaitRow{{Waiting: row, Blocking: row}}
			out, doc := connectionsDoc(t, m)
			for _, id := range []string{"idle-in-tx", "long-xacts"} {
				cells := byTestID(one(t, doc, id), "query-hidden")
				if got := len(cells) == 1; got != tt.hidden {
					t.Errorf("%s: hidden note shown = %v, want %v", id, got, tt.hidden)
				}
			}
			if got := len(byTestID(one(t, doc, "lock-waits"), "query-hidden")); tt.hidden && got != 2 {
				t.Errorf("lock waits: %d hidden notes, want 2", got)
			}
			if got := strings.Contains(out, "SELECT &#39;?&#39;") || strings.Contains(out, "SELECT '?'"); got == tt.hidden {
				t.Errorf("statement text shown = %v with QueryHidden = %v", got, tt.hidden)
			}
		})
	}
}
