package views

// AccountDiagnosis is the diagnosis as the account page shows it: the
// likely cause, the findings about the account, and apart the conditions
// that could affect any account.
type AccountDiagnosis struct {
	// Likely says in one sentence what most likely happened; Found is
	// false when nothing found explains a missing account.
	Likely string
	Found  bool
	// Account are the findings about this account, the likeliest first.
	Account []DiagnosisLine
	// Platform are the platform-wide conditions; PlatformProblems counts
	// those that are problems.
	Platform         []DiagnosisLine
	PlatformProblems int
}
