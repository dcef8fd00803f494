package views

// StepUp is the "confirm it's you" form shown before a destructive action
// when the operator's last sign-in is older than the window.
type StepUp struct {
	DraftID string
	// Label says what the kept form does; Window how recent a sign-in
	// must be; SignedIn how long ago the last one was.
	Label, Window, SignedIn string
	// SSO sends the operator through the identity provider instead of
	// asking for a password; Code asks for a second-factor code too;
	// Passkey offers to confirm with a passkey instead of a code, and
	// PasskeysOff says the operator's passkeys cannot be checked here.
	SSO         bool
	Code        bool
	Passkey     bool
	PasskeysOff bool
	Error       string
}

// KeptForm is a form kept across a step-up, offered again as typed on the
// page it was posted from.
type KeptForm struct {
	Action string
	Label  string
	Fields []KeptField
}

// KeptField is one field of a kept form.
type KeptField struct {
	Name, Value string
}

// SecondFactorLogin is the sign-in's second step: a code from an
// authenticator app or a recovery code, or a passkey.
type SecondFactorLogin struct {
	Email string
	Error string
	// Code offers the code form (an authenticator app or recovery codes);
	// Passkey the passkey button; PasskeysOff says the operator has
	// passkeys this console cannot check (its public URL is unknown).
	Code        bool
	Passkey     bool
	PasskeysOff bool
}

// Security is the signed-in operator's own security page.
type Security struct {
	Email, Role string
	// SignIn is how this session began; AuthenticatedAgo how long ago
	// the operator last proved who they are.
	SignIn, AuthenticatedAgo string
	HasPassword              bool
	// SSO says whether single sign-on is on and bound to this account.
	SSO      bool
	SSOBound bool
	// TOTP is on since TOTPSince; RecoveryLeft codes are unused.
	TOTP         bool
	TOTPSince    string
	RecoveryLeft int
	// Passkeys counts the operator's passkeys, listed in PasskeyRows.
	// PasskeysOn says one can be added (the console knows its public
	// URL), unless PasskeysFull; PasskeyName fills the new one's name.
	Passkeys     int
	PasskeyRows  []PasskeyRow
	PasskeysOn   bool
	PasskeysFull bool
	PasskeyName  string
	// Required says a second factor is required for this role and
	// missing: nothing else opens until one is set up.
	Required bool
	// Enrol is the authenticator being set up (QR code and secret).
	Enrol *TOTPEnrol
	// RecoveryCodes are shown once, just after they were made.
	RecoveryCodes []string
	Sessions      []SessionRow
	Error         string
	Flash         string
}

// TOTPEnrol is an authenticator app being set up: the QR code (a data
// URI rendered by the console) and the secret for typing in by hand.
type TOTPEnrol struct {
	QR     string
	Secret string
	Error  string
}

// PasskeyRow is one of the operator's passkeys. Key names it in the
// address that removes it.
type PasskeyRow struct {
	Key, Name, Added, LastUsed string
}

// SessionRow is one live session of an operator.
type SessionRow struct {
	ID        string
	SignIn    string
	Started   string
	LastSeen  string
	ClientIP  string
	UserAgent string
	Current   bool
}

// PasswordReset is the page a one-time password link opens.
type PasswordReset struct {
	Token string
	Email string
	Error string
	// Invalid says the link cannot be used (its message is Error).
	Invalid bool
}
