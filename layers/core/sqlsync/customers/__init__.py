"""Customer properties with per-property timestamps: an older update never overwrites a newer value."""
