/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* list.h - intrusive doubly linked lists (kbald's connection queues). */
#ifndef KBAL_LIST_H
#define KBAL_LIST_H

#include <stddef.h>

struct kbal_list {
	struct kbal_list *prev, *next;
};

#define kbal_container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

static inline void list_init(struct kbal_list *l) { l->prev = l->next = l; }

/* an entry on some list (a head: the list is not empty) */
static inline int list_linked(const struct kbal_list *n) { return n->next != NULL && n->next != n; }

static inline void list_add_tail(struct kbal_list *h, struct kbal_list *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void list_del(struct kbal_list *n)
{
	if (!list_linked(n))
		return;
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* move all of list *from onto the empty head *to */
static inline void list_take(struct kbal_list *to, struct kbal_list *from)
{
	list_init(to);
	if (!list_linked(from))
		return;
	*to = *from;
	to->next->prev = to;
	to->prev->next = to;
	list_init(from);
}

#endif
