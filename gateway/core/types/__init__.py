"""Plain data shared by the stages and storage, one module per area. Leaves: they import only each
other."""
