package postgres

// Fetches returns the number of FETCH statements r has run.
func Fetches(r *Reader) int { return r.fetches }
