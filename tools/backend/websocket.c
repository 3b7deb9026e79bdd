/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * websocket.c - Sec-WebSocket-Accept (RFC 6455): SHA-1 and base64, for
 * that header only.
 */
#include <stdint.h>
#include <string.h>

#include "backend.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static uint32_t rol32(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80], a, b, c, d, e, f, k, t;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
	for (int i = 0; i < 80; i++) {
		if (i < 20) {
			f = (b & c) | (~b & d); k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d; k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d; k = 0xca62c1d6;
		}
		t = rol32(a, 5) + f + e + k + w[i];
		e = d; d = c; c = rol32(b, 30); b = a; a = t;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

static void sha1(const unsigned char *msg, size_t len, unsigned char out[20])
{
	uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
	unsigned char blk[64];
	size_t i = 0, rest;
	unsigned long long bits = (unsigned long long)len * 8;

	for (; i + 64 <= len; i += 64)
		sha1_block(h, msg + i);
	rest = len - i;
	memset(blk, 0, sizeof(blk));
	memcpy(blk, msg + i, rest);
	blk[rest] = 0x80;
	if (rest >= 56) {
		sha1_block(h, blk);
		memset(blk, 0, sizeof(blk));
	}
	for (int j = 0; j < 8; j++)
		blk[63 - j] = (unsigned char)(bits >> (8 * j));
	sha1_block(h, blk);
	for (int j = 0; j < 5; j++) {
		out[4 * j] = h[j] >> 24; out[4 * j + 1] = h[j] >> 16;
		out[4 * j + 2] = h[j] >> 8; out[4 * j + 3] = h[j];
	}
}

static void base64(const unsigned char *in, size_t len, char *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		*out++ = tab[in[i] >> 2];
		*out++ = tab[(in[i] & 3) << 4 | in[i + 1] >> 4];
		*out++ = tab[(in[i + 1] & 15) << 2 | in[i + 2] >> 6];
		*out++ = tab[in[i + 2] & 63];
	}
	if (i < len) {
		*out++ = tab[in[i] >> 2];
		if (i + 1 < len) {
			*out++ = tab[(in[i] & 3) << 4 | in[i + 1] >> 4];
			*out++ = tab[(in[i + 1] & 15) << 2];
		} else {
			*out++ = tab[(in[i] & 3) << 4];
			*out++ = '=';
		}
		*out++ = '=';
	}
	*out = '\0';
}

/* base64(sha1(key GUID)) into out[29] */
void ws_accept(const char *key, size_t len, char *out)
{
	char buf[64 + sizeof(WS_GUID)];
	unsigned char dig[20];

	if (len > 64)
		len = 64;
	memcpy(buf, key, len);
	memcpy(buf + len, WS_GUID, sizeof(WS_GUID) - 1);
	sha1((unsigned char *)buf, len + sizeof(WS_GUID) - 1, dig);
	base64(dig, 20, out);
}
