// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* pages.c - the answers kbald writes itself (see pages.h): httpd's error
 * documents, its redirection page, an ErrorDocument's text; their lines in
 * httpd's order, Date and Server to come (own_head.c). */
#include <stdio.h>
#include <string.h>
#include "conf.h"
#include "pages.h"

/* The texts of Apache's default error documents (modules/http/http_protocol.c) */
static const struct {
	unsigned status;
	const char *reason;
	const char *text;
} error_pages[] = {
	{ 400, "Bad Request", "Your browser sent a request that this server could not understand.<br />\n" },
	{ 401, "Unauthorized", "This server could not verify that you\nare authorized to access the document\nrequested.  Either you supplied the wrong\ncredentials (e.g., bad password), or your\nbrowser doesn't understand how to supply\nthe credentials required." },
	{ 403, "Forbidden", "You don't have permission to access this resource." },
	{ 404, "Not Found", "The requested URL was not found on this server." },
	{ 405, "Method Not Allowed", "The requested method is not allowed for this URL." },
	{ 408, "Request Timeout", "Server timeout waiting for the HTTP request from the client." },
	{ 411, "Length Required", "A request of the requested method POST requires a valid Content-length.<br />\n" },
	{ 413, "Request Entity Too Large", "The amount of data provided in the request exceeds the capacity limit." },
	{ 410, "Gone", "The requested resource is no longer available on this server and there is no forwarding address.\nPlease remove all references to this resource." },
	{ 417, "Expectation Failed", NULL },   /* its text names the Expect sent: below */
	{ 414, "Request-URI Too Long", "The requested URL's length exceeds the capacity\nlimit for this server.<br />\n" },
	{ 431, "Request Header Fields Too Large", "The request's header fields exceed the capacity limit for this server." },
	{ 500, "Internal Server Error", NULL },   /* its text names ServerAdmin: below */
	/* (CRLF in httpd's text) */
	{ 502, "Bad Gateway", "The proxy server received an invalid\r\nresponse from an upstream server.<br />\r\n" },
	{ 503, "Service Unavailable", "The server is temporarily unable to service your\nrequest due to maintenance downtime or capacity\nproblems. Please try again later." },
	{ 504, "Gateway Timeout", "The gateway did not receive a timely response\nfrom the upstream server or application." },
};

ssize_t kbal_page_error(unsigned status, char *out, size_t outlen)
{
	return kbal_page_error_keep(status, 0, NULL, out, outlen);
}

int kbal_page_known(unsigned status)
{
	for (size_t i = 0; i < sizeof(error_pages) / sizeof(error_pages[0]); i++)
		if (error_pages[i].status == status)
			return 1;
	return 0;
}

ssize_t kbal_page_error_keep(unsigned status, int keep, const char *extra, char *out,
			     size_t outlen)
{
	return kbal_page_error_reason(status, NULL, keep, extra, out, outlen);
}

ssize_t kbal_page_error_reason(unsigned status, const char *reason, int keep, const char *extra,
			       char *out, size_t outlen)
{
	return kbal_page_error_notes(status, reason, NULL, NULL, keep, extra, out, outlen);
}

/* ap_escape_html(): what would end the attribute or the markup; (size_t)-1
 * where it does not fit in cap */
static size_t html_escape(const char *s, char *out, size_t cap);

/* as much of s escaped as fits in cap (with its '\0'): its length; *whole
 * says it was all of s */
static size_t html_escape_part(const char *s, char *out, size_t cap, int *whole)
{
	size_t o = 0;

	for (*whole = 0; *s; s++) {
		const char *e = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;" :
				*s == '"' ? "&quot;" : NULL;
		size_t n = e ? strlen(e) : 1;

		if (o + n >= cap)
			break;
		memcpy(out + o, e ? e : s, n);
		o += n;
	}
	*whole = !*s;
	if (cap)
		out[o] = '\0';
	return o;
}

/* httpd's 417 text (get_canned_error_string()): the Expect the client sent
 * (why; NULL: none), escaped, as much as fits in cap (httpd shows it all:
 * 8 KiB of it fit unless it is mostly markup, then it is cut) */
static const char *expect_text(const char *why, char *out, size_t cap)
{
	static const char head[] = "The expectation given in the Expect request-header\n"
				   "field could not be met by this server.\nThe client sent<pre>\n"
				   "    Expect: ",
			  tail[] = "</p><p>Only the 100-continue expectation is supported.";
	size_t o = sizeof(head) - 1;
	int whole;

	if (!why) {
		snprintf(out, cap, "No expectation was seen, the Expect request-header \n"
			 "field was not presented by the client.\n%s", tail);
		return out;
	}
	memcpy(out, head, o);
	o += html_escape_part(why, out + o, cap - o - sizeof(tail) - 16, &whole);
	snprintf(out + o, cap - o, "\n</pre>\n%s", tail);
	return out;
}

/* httpd's 500 text (get_canned_error_string(), no error-notes for all to
 * see): its ServerAdmin (why; NULL: httpd's DEFAULT_ADMIN), escaped */
static const char *admin_text(const char *why, char *out, size_t cap)
{
	char esc[6 * 128];

	if (html_escape(why ? why : "[no address given]", esc, sizeof(esc)) == (size_t)-1)
		esc[0] = '\0';
	snprintf(out, cap, "The server encountered an internal error or\n"
		 "misconfiguration and was unable to complete\nyour request.</p>\n"
		 "<p>Please contact the server administrator at \n %s to inform them of the "
		 "time this error occurred,\n and the actions you performed just before this "
		 "error.</p>\n<p>More information about this error may be available\n"
		 "in the server error log.", esc);
	return out;
}

const char *kbal_page_signature(unsigned sig, const char *prefix, const char *banner,
				const char *admin, const char *name, unsigned port, char *out,
				size_t cap)
{
	char ename[6 * 256], eadmin[6 * 128];
	const char *a = admin;
	int n;

	if (cap)
		out[0] = '\0';
	if (sig == KBAL_SIG_OFF || html_escape(name, ename, sizeof(ename)) == (size_t)-1)
		return out;
	if (sig != KBAL_SIG_EMAIL) {
		n = snprintf(out, cap, "%s<address>%s Server at %s Port %u</address>\n", prefix,
			     banner, ename, port);
	} else {
		if (html_escape(admin, eadmin, sizeof(eadmin)) == (size_t)-1)
			return out;
		/* ap_is_url(): a scheme (alphanumerics, '+', '-', '.') then ':' */
		a += strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
		n = snprintf(out, cap, "%s<address>%s Server at <a href=\"%s%s\">%s</a> Port %u"
			     "</address>\n", prefix, banner,
			     *a == ':' && a != admin ? "" : "mailto:", eadmin, ename, port);
	}
	if (n < 0 || (size_t)n >= cap)
		out[0] = '\0';
	return out;
}

ssize_t kbal_page_error_notes(unsigned status, const char *reason, const char *why,
			      const char *sig, int keep, const char *extra, char *out,
			      size_t outlen)
{
	size_t i, n = sizeof(error_pages) / sizeof(error_pages[0]);
	char body[15360], notes[512] = "", esc[256], own[14336];
	const char *text;
	int blen, hlen;

	/* ap_proxyerror()'s error-notes, which the page of a status that
	 * takes notes (add_optional_notes()) shows */
	if (why && (status == 400 || status == 403 || status == 411 || status == 502) &&
	    html_escape(why, esc, sizeof(esc)) != (size_t)-1)
		snprintf(notes, sizeof(notes), "The proxy server could not handle the request"
			 "<p>Reason: <strong>%s</strong></p>", esc);

	for (i = 0; i < n && error_pages[i].status != status; i++)
		;
	if (i == n)
		return kbal_page_error_notes(500, NULL, NULL, sig, keep, extra, out, outlen);
	if (!reason)
		reason = error_pages[i].reason;
	text = error_pages[i].text;
	/* (room for the signature, shorter than own: KBAL_PAGE_SIG_SIZE) */
	if (status == 417)
		text = expect_text(why, own, sizeof(own) - (sig ? strlen(sig) : 0));
	if (status == 500)
		text = admin_text(why, own, sizeof(own));
	blen = snprintf(body, sizeof(body),
			"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" "
			"\"http://www.w3.org/TR/html4/strict.dtd\">\n"
			"<html><head>\n<title>%u %s</title>\n</head><body>\n"
			"<h1>%s</h1>\n<p>%s%s</p>\n%s</body></html>\n",
			status, reason, reason, text, notes, sig ? sig : "");
	if (blen < 0 || (size_t)blen >= sizeof(body))
		return -1;
	/* in httpd's order (own_head.c adds Date and Server): its
	 * err_headers_out (WWW-Authenticate) or Allow, Content-Length,
	 * ap_set_keepalive()'s Connection, Content-Type set last */
	hlen = snprintf(out, outlen,
			"HTTP/1.1 %u %s\r\n"
			"%sContent-Length: %d\r\n"
			"%sContent-Type: text/html; charset=iso-8859-1\r\n\r\n",
			status, reason, extra ? extra : "", blen,
			keep ? "" : "Connection: close\r\n");
	if (hlen < 0 || (size_t)hlen + (size_t)blen >= outlen)
		return -1;
	memcpy(out + hlen, body, (size_t)blen + 1);
	return hlen + blen;
}

static size_t html_escape(const char *s, char *out, size_t cap)
{
	int whole;
	size_t n = html_escape_part(s, out, cap, &whole);

	return whole ? n : (size_t)-1;
}

ssize_t kbal_page_redirect(unsigned status, const char *location, const char *sig, int keep,
			   char *out, size_t outlen)
{
	const char *reason = status == 301 ? "Moved Permanently" : status == 302 ? "Found" :
			     status == 303 ? "See Other" : status == 307 ? "Temporary Redirect" :
			     status == 308 ? "Permanent Redirect" : NULL;
	char esc[4096], body[4096 + 512 + KBAL_PAGE_SIG_SIZE];
	int blen, hlen;

	if (!reason || html_escape(location, esc, sizeof(esc)) == (size_t)-1)
		return -1;
	/* get_canned_error_string()'s texts */
	blen = snprintf(body, sizeof(body),
			"<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" "
			"\"http://www.w3.org/TR/html4/strict.dtd\">\n"
			"<html><head>\n<title>%u %s</title>\n</head><body>\n<h1>%s</h1>\n"
			"<p>%s <a href=\"%s\">here</a>.</p>\n%s</body></html>\n",
			status, reason, reason,
			status == 303 ? "The answer to your request is located" :
			"The document has moved", esc, sig ? sig : "");
	if (blen < 0 || (size_t)blen >= sizeof(body))
		return -1;
	hlen = snprintf(out, outlen,
			"HTTP/1.1 %u %s\r\nLocation: %s\r\n"
			"Content-Length: %d\r\n%s"
			"Content-Type: text/html; charset=iso-8859-1\r\n\r\n",
			status, reason, location, blen, keep ? "" : "Connection: close\r\n");
	if (hlen < 0 || (size_t)hlen + (size_t)blen >= outlen)
		return -1;
	memcpy(out + hlen, body, (size_t)blen + 1);
	return hlen + blen;
}

ssize_t kbal_page_text(unsigned status, const char *reason, const char *text, int keep,
		       const char *extra, char *out, size_t outlen)
{
	size_t i, n = sizeof(error_pages) / sizeof(error_pages[0]), tlen = strlen(text);
	int hlen;

	for (i = 0; i < n && error_pages[i].status != status; i++)
		;
	if (i == n)
		return -1;
	hlen = snprintf(out, outlen,
			"HTTP/1.1 %u %s\r\n"
			"%sContent-Length: %zu\r\n%s"
			"Content-Type: text/html; charset=iso-8859-1\r\n\r\n",
			status, reason ? reason : error_pages[i].reason, extra ? extra : "", tlen,
			keep ? "" : "Connection: close\r\n");
	if (hlen < 0 || (size_t)hlen + tlen >= outlen)
		return -1;
	memcpy(out + hlen, text, tlen + 1);
	return hlen + (ssize_t)tlen;
}
