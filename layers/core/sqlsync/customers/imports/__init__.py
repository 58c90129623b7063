"""Customer CSV imports: the mapping of columns to properties and ids, cell conversion and a resumable reader."""
