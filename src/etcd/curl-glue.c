/* libcurl's multi interface on an sd-event loop, as systemd's importer drives it: curl says which
 * sockets to watch for what (CURLMOPT_SOCKETFUNCTION) and when to call it back without I/O
 * (CURLMOPT_TIMERFUNCTION); the loop tells it with curl_multi_socket_action(), and finished
 * transfers are read off curl_multi_info_read() afterwards, outside of any libcurl callback. */
#include <errno.h>
#include <sys/epoll.h>
#include <stdbool.h>
#include <time.h>

#include <glib.h>

#include "curl-glue.h"
#include "log.h"

struct CurlGlue {
        sd_event *event;
        CURLM *multi;
        GHashTable *ios;                /* fd → sd_event_source */
        sd_event_source *timer;
        unsigned n_draining;
        bool freed;                     /* by a done callback: freed once the draining is over */
};

static void glue_destroy(CurlGlue *glue);

static void drain(CurlGlue *glue) {
        CURLMsg *msg;
        int left;

        glue->n_draining++;
        while (!glue->freed && (msg = curl_multi_info_read(glue->multi, &left))) {
                CurlTransfer *transfer = NULL;
                CURL *easy = msg->easy_handle;
                CURLcode result = msg->data.result;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                (void) curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &transfer);
                /* Removed first: the owner may reuse the handle for its next request at once. */
                (void) curl_multi_remove_handle(glue->multi, easy);
                if (transfer)
                        transfer->done(transfer, result);
        }
        glue->n_draining--;
        if (glue->freed && glue->n_draining == 0)
                glue_destroy(glue);
}

static int on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        CurlGlue *glue = userdata;
        int action = 0, running;

        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                action |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                action |= CURL_CSELECT_OUT;
        if (revents & EPOLLERR)
                action |= CURL_CSELECT_ERR;

        if (glue->freed)
                return 0;
        if (curl_multi_socket_action(glue->multi, fd, action, &running) != CURLM_OK)
                log_debug("curl_multi_socket_action() failed on fd %d.", fd);
        drain(glue);
        return 0;
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        CurlGlue *glue = userdata;
        int running;

        if (curl_multi_socket_action(glue->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
                log_debug("curl_multi_socket_action() failed on its timeout.");
        drain(glue);
        return 0;
}

static int socket_callback(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
        CurlGlue *glue = userp;
        sd_event_source *io = g_hash_table_lookup(glue->ios, GINT_TO_POINTER(fd));
        uint32_t events = 0;
        int r;

        if (what == CURL_POLL_REMOVE) {
                if (io)
                        g_hash_table_remove(glue->ios, GINT_TO_POINTER(fd));
                return 0;
        }

        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;

        if (io) {
                r = sd_event_source_set_io_events(io, events);
                if (r < 0)
                        return log_debug_errno(r, "Cannot change the events of fd %d: %m", fd), -1;
                return 0;
        }

        r = sd_event_add_io(glue->event, &io, fd, events, on_io, glue);
        if (r < 0)
                return log_debug_errno(r, "Cannot watch fd %d: %m", fd), -1;
        (void) sd_event_source_set_description(io, "curl-io");
        g_hash_table_insert(glue->ios, GINT_TO_POINTER(fd), io);
        return 0;
}

static int timer_callback(CURLM *multi, long timeout_ms, void *userp) {
        CurlGlue *glue = userp;
        uint64_t now;
        int r;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(glue->timer, SD_EVENT_OFF) < 0 ? -1 : 0;

        r = sd_event_now(glue->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return -1;
        r = sd_event_source_set_time(glue->timer, now + (uint64_t) timeout_ms * 1000);
        if (r < 0)
                return -1;
        return sd_event_source_set_enabled(glue->timer, SD_EVENT_ONESHOT) < 0 ? -1 : 0;
}

static void io_source_free(gpointer p) {
        sd_event_source_disable_unref(p);
}

int curl_glue_new(sd_event *event, CurlGlue **ret) {
        CurlGlue *glue;
        int r;

        glue = g_new0(CurlGlue, 1);
        glue->event = sd_event_ref(event);
        glue->ios = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, io_source_free);

        /* Accuracy 1 µs: curl asks for 0 ms to start a transfer it was just given, and sd-event's
         * default accuracy (0 here) would let that wait up to 250 ms on an otherwise idle loop. */
        r = sd_event_add_time(event, &glue->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, on_timer, glue);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_enabled(glue->timer, SD_EVENT_OFF);
        (void) sd_event_source_set_description(glue->timer, "curl-timer");

        glue->multi = curl_multi_init();
        if (!glue->multi) {
                r = -ENOMEM;
                goto fail;
        }
        if (curl_multi_setopt(glue->multi, CURLMOPT_SOCKETFUNCTION, socket_callback) != CURLM_OK ||
            curl_multi_setopt(glue->multi, CURLMOPT_SOCKETDATA, glue) != CURLM_OK ||
            curl_multi_setopt(glue->multi, CURLMOPT_TIMERFUNCTION, timer_callback) != CURLM_OK ||
            curl_multi_setopt(glue->multi, CURLMOPT_TIMERDATA, glue) != CURLM_OK) {
                r = -EINVAL;
                goto fail;
        }

        *ret = glue;
        return 0;

fail:
        glue_destroy(glue);
        return r;
}

static void glue_destroy(CurlGlue *glue) {
        /* Cleanup may still call the socket callback for the connections it closes. */
        if (glue->multi)
                (void) curl_multi_cleanup(glue->multi);
        g_hash_table_destroy(glue->ios);
        sd_event_source_disable_unref(glue->timer);
        sd_event_unref(glue->event);
        g_free(glue);
}

CurlGlue *curl_glue_free(CurlGlue *glue) {
        if (!glue)
                return NULL;

        glue->freed = true;
        if (glue->n_draining == 0)
                glue_destroy(glue);
        return NULL;
}

int curl_glue_add(CurlGlue *glue, CURL *easy) {
        CURLMcode m = curl_multi_add_handle(glue->multi, easy);

        if (m != CURLM_OK)
                return log_debug_errno(EINVAL, "curl_multi_add_handle() failed: %s", curl_multi_strerror(m));
        return 0;
}

void curl_glue_remove(CurlGlue *glue, CURL *easy) {
        (void) curl_multi_remove_handle(glue->multi, easy);
}
