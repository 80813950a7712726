"""People, duties and roles (SPEC §3, §7): accounts, sign-in, the roster, who sees what."""
