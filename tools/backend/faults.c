/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * faults.c - the /fault-* paths, for the tests of a member that misbehaves
 * (tests/e2e/test_member_faults.py): the rest of the connection is read
 * and dropped, never answered.
 *   /fault-mid           a 200 head with Content-Length 100000, 1000 bytes of
 *                        it, then a close (FIN)
 *   /fault-hang          nothing: the request is read, never answered, and
 *                        the connection stays open until the peer closes it
 *   /fault-garbage       bytes that are not HTTP, then a close
 *   /fault-reset         a RST before any answer (SO_LINGER 0 and close)
 *   /fault-chunked-cut   a chunked 200 with two chunks, then a close before
 *                        the last chunk
 *   /fault-smuggle       a whole 200 with Content-Length followed, in the
 *                        same write, by a second whole "HTTP/1.1 200 OK" that
 *                        nobody asked for; the connection stays open
 *   /fault-stall         /fault-mid's head and 1000 bytes, then nothing: the
 *                        connection stays open until the peer closes it
 *                        (a member that stops mid-answer)
 */
#include <stddef.h>

#include "backend.h"

/* The /fault-* paths, in enum kb_kind's order from KB_FAULT_MID. */
static const char *const kb_fault_paths[] = {
	"/fault-mid", "/fault-hang", "/fault-garbage", "/fault-reset",
	"/fault-chunked-cut", "/fault-smuggle", "/fault-stall",
};

int fault_kind(const char *url, size_t len)
{
	int kind = -1;

	for (unsigned i = 0; i < sizeof(kb_fault_paths) / sizeof(kb_fault_paths[0]); i++)
		if (ieq(url, len, kb_fault_paths[i]))
			kind = KB_FAULT_MID + i;
	return kind;
}

/*
 * A /fault-* request is complete: queue what the fault sends, if anything,
 * and how the connection ends. Whatever the peer sends next is dropped.
 */
void request_fault(struct kb_server *s, struct kb_conn *c)
{
	static const char garbage[] = "\x16\x03\x01 this is not HTTP \x00\xff\r\n\r\n";
	static const char smuggled[] = "HTTP/1.1 200 OK\r\nX-Smuggled: yes\r\n"
				       "Content-Length: 9\r\n\r\nsmuggled\n";

	c->mute = 1;
	c->resp_active = 1;
	c->close_after = 1;
	switch (c->kind) {
	case KB_FAULT_MID:
	case KB_FAULT_STALL:
		resp_head(s, c, 1, "200 OK", "application/octet-stream",
			  KB_FAULT_MID_LEN);
		c->stream_pos = 0;
		c->stream_left = KB_FAULT_MID_SENT;
		c->close_after = c->kind == KB_FAULT_MID;
		break;
	case KB_FAULT_HANG:
		c->resp_active = c->close_after = 0;
		break;
	case KB_FAULT_GARBAGE:
		out_put(c, garbage, sizeof(garbage) - 1);
		break;
	case KB_FAULT_RESET:
		c->reset_after = 1;
		break;
	case KB_FAULT_CUT:
		resp_status(s, c, "200 OK");
		out_printf(c, "Transfer-Encoding: chunked\r\n\r\n"
			   "10\r\n0123456789abcdef\r\n6\r\nfedcba\r\n");
		break;
	case KB_FAULT_SMUGGLE:
		resp_head(s, c, 1, "200 OK", "text/plain", 6);
		out_put(c, "first\n", 6);
		out_put(c, smuggled, sizeof(smuggled) - 1);
		c->close_after = 0;
		break;
	}
	msg_reset(c);
}
