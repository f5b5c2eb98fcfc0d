"""Physics parametrisations, written once against an array namespace (numpy or torch)."""
