/* The etcd backend: a gate (service-gate.h) that orders this daemon's grants with those of every other
 * daemon on the same etcd cluster, so that all of them share one lock namespace. See docs/cluster.md. */
#pragma once

#include <systemd/sd-event.h>

#include "etcd-client.h"
#include "service.h"

typedef struct EtcdGate EtcdGate;

typedef struct EtcdGateSettings {
        EtcdSettings etcd;
        const char *node;                /* this daemon's name in records and listings */
        uint64_t session_ttl_usec;       /* the lease every key of this daemon hangs on */
} EtcdGateSettings;

/* Starts the session (lease, watch) in the background: until etcd answers, Acquire fails with
 * Unavailable. Puts itself in front of the service's table. */
int etcd_gate_new(Service *service, sd_event *event, const EtcdGateSettings *settings, EtcdGate **ret);
/* Revokes the lease when there is one, so that every key of this daemon goes at once rather than
 * after the TTL; waits for etcd at most timeout_usec. */
void etcd_gate_stop(EtcdGate *gate, uint64_t timeout_usec);
EtcdGate *etcd_gate_free(EtcdGate *gate);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EtcdGate, etcd_gate_free)

/* Called each time a session is established and the namespace read. */
void etcd_gate_set_available_callback(EtcdGate *gate, void (*callback)(void *userdata), void *userdata);

/* Whether a session is established and its lease alive. */
bool etcd_gate_is_available(const EtcdGate *gate);
