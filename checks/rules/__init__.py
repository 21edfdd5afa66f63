"""Pure rules: each takes the facts and the options and returns a Result. No I/O here."""
