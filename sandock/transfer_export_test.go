package sandock

// WithPieceSize sets how many bytes of a file one shell call carries, so
// that tests can cross piece boundaries with small files.
func WithPieceSize(n int) Option {
	return func(s *Sandbox) error {
		s.piece = n
		return nil
	}
}
