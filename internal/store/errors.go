package store

// ConsoleError says the console's own database failed while the console
// was checking another system (reading the kill switch, electing the
// sampler, storing a sample): that system was not checked, which is not
// the same as that system failing.
type ConsoleError struct{ Err error }

func (e *ConsoleError) Error() string { return "the console's database: " + e.Err.Error() }

// Unwrap returns the database's error.
func (e *ConsoleError) Unwrap() error { return e.Err }

// NotChecked tells a system's health check that it could not check the
// system, rather than found it down.
func (e *ConsoleError) NotChecked() bool { return true }

// Console marks err as the console's own database failing; nil stays nil.
func Console(err error) error {
	if err == nil {
		return nil
	}
	return &ConsoleError{Err: err}
}
