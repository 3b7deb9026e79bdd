// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * privs.c - User and Group (privs.h). Capabilities through libcap: the
 * switch of user is glibc's setresuid(), which every thread takes; only
 * the main thread asks to keep its capabilities across it, so kbald's
 * other threads (the log writer, the access checks) end with none (in a
 * restart's image, already User, they drop them as they start:
 * kbal_privs_thread()).
 *
 * What kbald keeps (docs/security.md: the experiments that showed it):
 * - effective, used while it runs: CAP_NET_ADMIN, for TCP_REPAIR (the
 *   packet path's hand-over of a connection's TCP state; without it each
 *   flow falls back to sockmap, why "tcp-repair"). Sockmap inserts, map
 *   updates through the descriptors it holds, the raw socket made at start
 *   and tcx attach to an interface a flow first uses need none;
 * - permitted only, for a restart in place, whose new image loads the
 *   programs again, takes the pinned maps and listeners over and may bind
 *   new ports: CAP_BPF and CAP_PERFMON (the programs' loads), CAP_NET_ADMIN
 *   (the sockhash maps' creation, and TCP_REPAIR), CAP_NET_RAW (the packet
 *   path's raw socket), CAP_NET_BIND_SERVICE (a Listen below 1024). They
 *   go to the new image through the ambient set, raised just before the
 *   exec; they are also the bounding set, so nothing kbald could exec ever
 *   gets more.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "log.h"
#include "logfile.h"
#include "privs.h"

static const cap_value_t caps_run[] = { CAP_NET_ADMIN };
static const cap_value_t caps_restart[] = {
	CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON, CAP_NET_RAW, CAP_NET_BIND_SERVICE,
};
#define NCAPS(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int in_restart_set(cap_value_t v)
{
	for (int i = 0; i < NCAPS(caps_restart); i++)
		if (caps_restart[i] == v)
			return 1;
	return 0;
}

/* the user's name, for initgroups(): "#N" has none */
static const char *user_name(const struct kbal_conf_privs *v)
{
	return v->user[0] == '#' ? NULL : v->user;
}

static int become(const struct kbal_conf_privs *v)
{
	gid_t gid = v->gid;
	const char *name = user_name(v);

	if ((name ? initgroups(name, gid) : setgroups(1, &gid)) ||
	    setresgid(gid, gid, gid) || setresuid(v->uid, v->uid, v->uid))
		return -errno;
	return 0;
}

int kbal_privs_reachable(const struct kbal_conf *c, const char *pin_dir)
{
	const struct kbal_conf_privs *v = &c->privs;
	char parent[4096];
	char *slash;
	int status;
	pid_t pid;

	if (!v->user_line)
		return 0;
	if (geteuid() != 0) {
		/* a restart's image, already User; or started as another user */
		if (getuid() == v->uid && getgid() == v->gid)
			return 0;
		log_err("%s:%d: User %s: kbald runs as uid %u gid %u, and only root can become "
			"another user (start it as root)", c->file, v->user_line, v->user, getuid(),
			getgid());
		return -EPERM;
	}
	snprintf(parent, sizeof(parent), "%s", pin_dir);
	slash = strrchr(parent, '/');
	if (!slash)
		snprintf(parent, sizeof(parent), ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	/* the user's own view: a child that becomes it and looks */
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(become(v) ? 2 : access(parent, X_OK) == 0 || errno == ENOENT ? 0 : 1);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
		log_err("%s:%d: User %s cannot reach %s: %s is not searchable by that user "
			"(systemd mounts /sys/fs/bpf with mode 0700): give it search permission "
			"(chmod o+x %s), or pin elsewhere (--pin-dir)", c->file, v->user_line,
			v->user, pin_dir, parent, parent);
	else
		log_err("%s:%d: User %s, Group %s: cannot become them", c->file, v->user_line,
			v->user, v->group[0] ? v->group : "(the user's)");
	return -EACCES;
}

/* dir_fd itself (name NULL) or its entry name: owner (as root) and mode */
static int set_owner_mode(int dir_fd, const char *name, int root, uid_t uid, gid_t gid,
			  mode_t mode)
{
	struct stat st;

	if (fstatat(dir_fd, name ? name : "", &st, name ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH))
		return -1;
	if (root && (st.st_uid != uid || st.st_gid != gid) &&
	    fchownat(dir_fd, name ? name : "", uid, gid,
		     name ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH))
		return -1;
	/* a chown clears the setgid bit: the mode after it */
	if ((st.st_mode & 07777) != mode || (root && (st.st_uid != uid || st.st_gid != gid)))
		return name ? fchmodat(dir_fd, name, mode, 0) : fchmod(dir_fd, mode);
	return 0;
}

void kbal_privs_pins(const struct kbal_conf *c, int dir_fd, const char *pin_dir)
{
	const struct kbal_conf_privs *v = &c->privs;
	int root = geteuid() == 0, group = v->pin_group_line != 0;
	uid_t uid = v->user_line ? v->uid : 0;
	gid_t gid = group ? v->pin_gid : v->user_line ? v->gid : 0;
	struct dirent *e;
	DIR *dir;
	int fd;

	if (!v->user_line && !group)
		return;
	/* as User (a restart's image), the directory is its own already and
	 * its setgid bit gives new pins KbalPinGroup: modes only, where they
	 * differ (a chmod by one outside the group would clear that bit) */
	if (set_owner_mode(dir_fd, NULL, root, uid, gid, group ? 02750 : 0700))
		log_warn("%s: owner or mode: %s", pin_dir, strerror(errno));
	fd = dup(dir_fd);
	dir = fd >= 0 ? fdopendir(fd) : NULL;
	if (!dir) {
		log_warn("%s: %s", pin_dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.' &&
		    set_owner_mode(dir_fd, e->d_name, root, uid, gid, group ? 0640 : 0600))
			log_warn("%s/%s: owner or mode: %s", pin_dir, e->d_name, strerror(errno));
	closedir(dir);
}

static int set_caps(void)
{
	cap_t caps = cap_init();
	int err = 0;

	if (!caps)
		return -errno;
	if (cap_set_flag(caps, CAP_PERMITTED, NCAPS(caps_restart), caps_restart, CAP_SET) ||
	    cap_set_flag(caps, CAP_INHERITABLE, NCAPS(caps_restart), caps_restart, CAP_SET) ||
	    cap_set_flag(caps, CAP_EFFECTIVE, NCAPS(caps_run), caps_run, CAP_SET) ||
	    cap_set_proc(caps))
		err = -errno;
	cap_free(caps);
	if (!err && cap_reset_ambient())
		err = -errno;
	return err;
}

static void log_caps(const struct kbal_conf_privs *v)
{
	cap_t caps = cap_get_proc();
	char *text = caps ? cap_to_text(caps, NULL) : NULL;

	log_info("running as User %s (uid %u), Group %s (gid %u), capabilities %s",
		 v->user, v->uid, v->group[0] ? v->group : "(the user's)", v->gid,
		 text ? text : "?");
	cap_free(text);
	cap_free(caps);
}

int kbal_privs_drop(const struct kbal_conf *c)
{
	const struct kbal_conf_privs *v = &c->privs;
	int err;

	if (!v->user_line)
		return 0;
	if (geteuid() == 0) {
		/* none above those a restart needs, ever (a unit's bounding
		 * set may have done so already: then CAP_SETPCAP is gone) */
		for (cap_value_t cv = 0; cv <= CAP_LAST_CAP; cv++)
			if (!in_restart_set(cv) && CAP_IS_SUPPORTED(cv) && cap_drop_bound(cv) &&
			    errno != EPERM && errno != EINVAL)
				log_warn("dropping capability %d from the bounding set: %s", cv,
					 strerror(errno));
		kbal_logfiles_chown(v->uid);
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) || (err = become(v))) {
			err = -errno;
			log_err("%s:%d: User %s: %s", c->file, v->user_line, v->user,
				strerror(-err));
			return err;
		}
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	} else if (getuid() != v->uid || getgid() != v->gid) {
		return -EPERM;     /* kbal_privs_reachable() said why */
	}
	err = set_caps();
	if (err) {
		log_err("keeping the capabilities kbald needs: %s", strerror(-err));
		return err;
	}
	log_caps(v);
	return 0;
}

int kbal_privs_restart_ok(const struct kbal_conf *now, const struct kbal_conf *next, char *why,
			  size_t len)
{
	const struct kbal_conf_privs *v = &next->privs;

	if (geteuid() == 0)
		return 0;
	/* as User: the same one; started as another user without User (a
	 * unit's User=): no User in the next file either */
	if (v->user_line ? v->uid == getuid() && v->gid == getgid() : !now->privs.user_line)
		return 0;
	snprintf(why, len, "kbald runs as uid %u gid %u and cannot become %s%s%s%s: a restart "
		 "in place keeps User and Group (stop kbald and start it again to change them)",
		 getuid(), getgid(), v->user_line ? "User " : "root (no User in ",
		 v->user_line ? v->user : next->file, v->user_line && v->group_line ? ", Group " :
		 v->user_line ? "" : ")", v->user_line && v->group_line ? v->group : "");
	return -1;
}

void kbal_privs_thread(void)
{
	cap_t none;

	if (getuid() == 0)
		return;
	none = cap_init();
	if (!none || cap_set_proc(none))
		log_warn("a thread's capabilities: %s", strerror(errno));
	cap_free(none);
}

void kbal_privs_exec(const struct kbal_conf *c, int on)
{
	if (!c->privs.user_line || geteuid() == 0)
		return;     /* root, or capabilities that are not kbald's doing */
	if (!on) {
		cap_reset_ambient();
		return;
	}
	for (int i = 0; i < NCAPS(caps_restart); i++)
		if (cap_set_ambient(caps_restart[i], CAP_SET))
			log_warn("restart: keeping capability %d for the new image: %s",
				 caps_restart[i], strerror(errno));
}
