"""common: the Tailscale API client and its test double, over real HTTP on loopback."""
