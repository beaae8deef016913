"""A receive ring for an ``AF_PACKET`` socket (``PACKET_RX_RING``, ``TPACKET_V2``).

Theory of operation
-------------------
Instead of one ``recvfrom`` system call per frame, the kernel writes received frames into a
ring of fixed-size slots shared with the process (``mmap``), each slot headed by a
``tpacket2_hdr`` whose ``tp_status`` says who owns it (``TP_STATUS_USER``: a frame waits for
us; 0: the kernel's again). :meth:`RxRing.read` walks the slots from where it stopped, copies
out each waiting frame's network-layer octets, its packet type (``PACKET_OTHERHOST``...) and
source MAC (from the ``sockaddr_ll`` after the header), and hands the slot back;
:meth:`RxRing.packets` does the daemon's part in the same walk (the packets for this host,
without their Ethernet padding, each source's MAC learnt). A frame's octets run
``tp_snaplen`` from ``tp_mac``: on a ``SOCK_RAW`` socket that is the Ethernet header and the
packet, so the packet is ``tp_snaplen - (tp_net - tp_mac)`` octets from ``tp_net``. ``poll`` /
``epoll`` on the socket report it readable while a slot is ours, so the asyncio reader works
unchanged. A frame longer than a slot is truncated by the kernel (``tp_snaplen < tp_len``);
slots are 4096 octets here, more than a 1500-octet link's frame plus headers.
"""

from __future__ import annotations

import mmap
import socket
import struct

__all__ = ["RxRing"]

SOL_PACKET, PACKET_VERSION, PACKET_RX_RING, TPACKET_V2 = 263, 10, 5, 1
TP_STATUS_USER = 1
_HDR = struct.Struct("=IIIHH")
"""tp_status, tp_len, tp_snaplen, tp_mac, tp_net (the start of tpacket2_hdr)."""
_SLL = 32
"""Offset of the sockaddr_ll: TPACKET_ALIGN(sizeof(struct tpacket2_hdr))."""
FRAME = 4096
BLOCK = 1 << 16
_WORDS = FRAME // 4
"""32-bit words per slot."""
_MAC, _NET = 6, 7
"""tp_mac's and tp_net's indexes among a slot's 16-bit words (octets 12 and 14 of
tpacket2_hdr)."""
PACKET_OTHERHOST, PACKET_OUTGOING = 3, 4


class RxRing:
    def __init__(self, sock: socket.socket, frames: int = 1024) -> None:
        """Set ``sock`` (an unbound or bound ``AF_PACKET`` socket) up with a ring of
        ``frames`` slots; raises ``OSError`` when the kernel refuses."""
        per_block = BLOCK // FRAME
        blocks = max(1, frames // per_block)
        sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
        sock.setsockopt(SOL_PACKET, PACKET_RX_RING,
                        struct.pack("IIII", BLOCK, blocks, FRAME, blocks * per_block))
        self.frames = blocks * per_block
        self.ring = mmap.mmap(sock.fileno(), BLOCK * blocks)
        self._words = memoryview(self.ring).cast("I")
        """The ring as native 32-bit words: a slot's tp_status and tp_snaplen read and the
        status handed back by indexing, without a struct call or a tuple per frame."""
        self._halves = memoryview(self.ring).cast("H")
        """The ring as native 16-bit words (a slot's tp_net)."""
        self._slots = [(w, w * 4, 2 * w + _NET, w * 4 + _SLL + 10, w * 4 + _SLL + 12,
                        w * 4 + _SLL + 18, 2 * w + _MAC)
                       for w in range(0, self.frames * _WORDS, _WORDS)]
        """Per slot, the offsets :meth:`read` needs, computed once: its first word (tp_status;
        tp_snaplen two words on), its first octet, its tp_net's 16-bit word, in its
        sockaddr_ll the packet type's octet and the source MAC's first and end octets, and
        its tp_mac's 16-bit word."""
        self.index = 0

    def read(self, limit: int) -> list[tuple[bytes, int, bytes]]:
        """Up to ``limit`` waiting frames as (network-layer octets, packet type, source MAC),
        their slots handed back."""
        out: list[tuple[bytes, int, bytes]] = []
        append = out.append
        ring, words, halves, slots = self.ring, self._words, self._halves, self._slots
        i, n = self.index, self.frames
        for _ in range(limit):
            w, off, net, pkttype, mac, end, link = slots[i]
            if not words[w] & TP_STATUS_USER:  # tp_status
                break
            append((ring[off + halves[net]:off + halves[link] + words[w + 2]], ring[pkttype],
                    ring[mac:end]))
            words[w] = 0  # TP_STATUS_KERNEL: the slot is the kernel's again
            i += 1
            if i == n:
                i = 0
        self.index = i
        return out

    def packets(self, limit: int, neighbours: dict[bytes, bytes]) -> list[bytes]:
        """The IPv6 packets of up to ``limit`` waiting frames, their slots handed back, as the
        daemon takes them from :meth:`read`'s frames (``hmipv6.net.daemon.host_packets``, which
        tests hold this to): a frame the kernel saw for another host or sent itself
        (``PACKET_OTHERHOST``, ``PACKET_OUTGOING``) is skipped; a packet of 40 octets or more
        is cut at the end its Payload Length gives (Ethernet padding of a short frame, RFC
        8200 §3) and its source address's MAC recorded in ``neighbours`` (a passive
        neighbour cache). One walk, no tuple per frame."""
        out: list[bytes] = []
        append = out.append
        ring, words, halves, slots = self.ring, self._words, self._halves, self._slots
        i, n = self.index, self.frames
        for _ in range(limit):
            w, off, net, pkttype, mac, end, link = slots[i]
            if not words[w] & TP_STATUS_USER:  # tp_status
                break
            if ring[pkttype] not in (PACKET_OTHERHOST, PACKET_OUTGOING):
                data = ring[off + halves[net]:off + halves[link] + words[w + 2]]
                if (size := len(data)) >= 40:
                    if size > (last := 40 + (data[4] << 8 | data[5])):
                        data = data[:last]
                    neighbours[data[8:24]] = ring[mac:end]
                append(data)
            words[w] = 0  # TP_STATUS_KERNEL: the slot is the kernel's again
            i += 1
            if i == n:
                i = 0
        self.index = i
        return out

    def close(self) -> None:
        self._words.release()
        self._halves.release()
        self.ring.close()
