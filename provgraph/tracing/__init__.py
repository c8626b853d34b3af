"""File-access tracing of a captured command's whole process tree."""
