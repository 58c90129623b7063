"""What every HTTP function shares: one place that turns errors into HTTP responses."""
