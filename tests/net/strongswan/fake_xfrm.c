/* Test-only stand-in for the kernel's ESP support, loaded into charon with LD_PRELOAD.
 *
 * The test machine's kernel has XFRM but no ESP type, so charon's kernel-netlink plugin
 * cannot install the Child SAs it negotiates (XFRM_MSG_NEWSA / UPDSA fail with ENOENT and
 * charon answers IKE_AUTH with NO_PROPOSAL_CHOSEN).  This shim rewrites those two requests,
 * on NETLINK_XFRM sockets only, into XFRM_MSG_FLUSHSA for protocol ESP (no ESP state can
 * exist here, so the kernel acknowledges it with error 0 and changes nothing), keeping the
 * sequence number so charon matches the acknowledgement.  Everything else (SPI allocation,
 * policies, routes, addresses) reaches the real kernel unchanged.  The keys charon
 * derived are in its log (ike/chd level 4); the tests compare them with hmipv6's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>
#include <netinet/in.h>

typedef ssize_t (*sendto_fn)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);

static int is_xfrm(int fd)
{
	int proto = 0;
	socklen_t len = sizeof(proto);
	struct sockaddr_nl sa;
	socklen_t slen = sizeof(sa);

	if (getsockname(fd, (struct sockaddr *)&sa, &slen) || sa.nl_family != AF_NETLINK)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len))
		return 0;
	return proto == NETLINK_XFRM;
}

ssize_t sendto(int fd, const void *buf, size_t len, int flags,
               const struct sockaddr *to, socklen_t tolen)
{
	static sendto_fn real;
	const struct nlmsghdr *hdr = buf;

	if (!real)
		real = (sendto_fn)dlsym(RTLD_NEXT, "sendto");
	if (len >= sizeof(*hdr) && (hdr->nlmsg_type == XFRM_MSG_NEWSA ||
	                            hdr->nlmsg_type == XFRM_MSG_UPDSA) && is_xfrm(fd)) {
		struct {
			struct nlmsghdr h;
			struct xfrm_usersa_flush f;
			char pad[3];
		} msg;
		ssize_t n;

		memset(&msg, 0, sizeof(msg));
		msg.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct xfrm_usersa_flush));
		msg.h.nlmsg_type = XFRM_MSG_FLUSHSA;
		msg.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
		msg.h.nlmsg_seq = hdr->nlmsg_seq;
		msg.h.nlmsg_pid = hdr->nlmsg_pid;
		msg.f.proto = IPPROTO_ESP;
		n = real(fd, &msg, msg.h.nlmsg_len, flags, to, tolen);
		return n < 0 ? n : (ssize_t)len;
	}
	return real(fd, buf, len, flags, to, tolen);
}
