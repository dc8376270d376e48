"""Spiders: one per kind of source, driven by platform profiles."""


def answered_from(response, sandbox) -> list[str]:
    """The address a site's response came from, for its technical facts
    (sites.ips). In sandbox mode the sandbox serves every host, so its
    address is the site's; through any other proxy the peer is the proxy,
    not the site, and nothing is recorded."""
    ip = getattr(response, "ip_address", None)
    if ip is None or (not sandbox and "proxy" in response.meta):
        return []
    return [str(ip)]
