package e2b

// SetPageSize sets how many sandboxes one list request asks for and returns
// the function that restores it.
func SetPageSize(n int) (restore func()) {
	old := pageSize
	pageSize = n
	return func() { pageSize = old }
}
