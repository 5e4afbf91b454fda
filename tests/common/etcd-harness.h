/* Test harness: a cluster of 1 or 3 real etcd members on 127.0.0.1, data under /dev/shm, started and
 * stopped by PID. Members die with the test process (PR_SET_PDEATHSIG), also when an assertion
 * aborts it. */
#pragma once

#include <stdbool.h>

#include <glib.h>

#include "test-common.h"

typedef struct EtcdCluster EtcdCluster;

/* Starts n members and waits until every one answers healthy (fails the test if they do not). */
EtcdCluster *etcd_cluster_start(unsigned n);
/* SIGTERMs (then SIGKILLs) and reaps every member, removes the data. */
void etcd_cluster_stop(EtcdCluster *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EtcdCluster, etcd_cluster_stop)

unsigned etcd_cluster_size(const EtcdCluster *c);
/* "http://127.0.0.1:P1,http://127.0.0.1:P2,..." (g_free). */
char *etcd_cluster_endpoints(const EtcdCluster *c);
const char *etcd_cluster_member_url(const EtcdCluster *c, unsigned i);
/* 0 while the member is down. */
GPid etcd_cluster_member_pid(const EtcdCluster *c, unsigned i);

void etcd_cluster_kill_member(EtcdCluster *c, unsigned i);
/* Starts a killed member again on its data (--initial-cluster-state existing) and waits for it. */
void etcd_cluster_restart_member(EtcdCluster *c, unsigned i);
/* The index of the member that is leader, as the members up say; -1 if none says. */
int etcd_cluster_leader(const EtcdCluster *c);

/* A POST to a member's gateway, blocking: the body of a 200 answer, or NULL. For the tests' own
 * checks beside the client under test. */
char *etcd_cluster_post(const char *url, const char *path, const char *body);
