"""The mobile node's home address as a kernel interface: a TUN device (``hmipv6 node --tun``).

Theory of operation
-------------------
:func:`open_home_tun` creates a layer-3 TUN device (``IFF_TUN | IFF_NO_PI``: each read or
write is one bare IPv6 packet) in the calling process's network namespace, turns the kernel's
IPv6 on for that interface only (the namespace's access interfaces stay the daemon's,
``disable_ipv6 = 1``), gives it the home address as a /128 without DAD (the home agent
defends it on the home link, RFC 6275 §10.4.1), no link-local address of its own
(``addr_gen_mode = 1``: the device is no link anyone solicits on), the MTU the mobile node
offers to upper layers (the link MTU less both tunnels, RFC 5380 §11), and a default route
through it. So every kernel application's packet leaves from the home address into the
daemon, and the daemon writes into the device what arrives for the home address.

Nothing here parses packets; :class:`~hmipv6.core.mobile_node.MobileNode` decides
(``send_from_host``, ``packets_for_host``).
"""

from __future__ import annotations

import fcntl
import os
import struct
from ipaddress import IPv6Address

__all__ = ["HOME_TUN", "open_home_tun"]

HOME_TUN = "hmip0"
"""The TUN device's name in the mobile node's namespace."""
_TUNSETIFF = 0x400454CA
_IFF_TUN, _IFF_NO_PI = 0x0001, 0x1000


def _sysctl(key: str, value: str) -> None:
    with open(f"/proc/sys/net/ipv6/conf/{key}", "w", encoding="ascii") as f:
        f.write(value)


def open_home_tun(home_address: IPv6Address, mtu: int, name: str = HOME_TUN) -> int:
    """Create and configure the device (module docstring); returns its non-blocking file
    descriptor. Raises ``OSError`` when the kernel refuses (no /dev/net/tun, not root)."""
    from pyroute2 import IPRoute

    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH", name.encode(), _IFF_TUN | _IFF_NO_PI))
        _sysctl(f"{name}/addr_gen_mode", "1")
        _sysctl(f"{name}/accept_dad", "0")
        _sysctl(f"{name}/disable_ipv6", "0")
        _sysctl("lo/disable_ipv6", "0")  # local delivery of the home address
        with IPRoute() as ip:
            idx = ip.link_lookup(ifname=name)[0]
            ip.link("set", index=idx, mtu=mtu, state="up")
            ip.addr("add", index=idx, address=str(home_address), prefixlen=128,
                    flags=0x02)  # IFA_F_NODAD
            ip.route("add", dst="::/0", oif=idx, family=10)
    except BaseException:
        os.close(fd)
        raise
    return fd
