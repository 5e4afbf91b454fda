/* The wire protocol's frames: the header, a checking reader and a writer of each body. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "wire.h"

const char *wire_type_to_string(uint16_t type) {
        switch (type) {
        case WIRE_HELLO:               return "HELLO";
        case WIRE_SET_NAME:            return "SET_NAME";
        case WIRE_ACQUIRE:             return "ACQUIRE";
        case WIRE_RELEASE:             return "RELEASE";
        case WIRE_REFRESH:             return "REFRESH";
        case WIRE_PUBLISH:             return "PUBLISH";
        case WIRE_LIST_MESSAGES:       return "LIST_MESSAGES";
        case WIRE_GET_MESSAGE:         return "GET_MESSAGE";
        case WIRE_POP_MESSAGE:         return "POP_MESSAGE";
        case WIRE_HAS_MESSAGE:         return "HAS_MESSAGE";
        case WIRE_REMOVE_MESSAGE:      return "REMOVE_MESSAGE";
        case WIRE_LIST_LOCKS:          return "LIST_LOCKS";
        case WIRE_LIST_CLIENTS:        return "LIST_CLIENTS";
        case WIRE_GET_STATUS:          return "GET_STATUS";
        case WIRE_FORCE_RELEASE:       return "FORCE_RELEASE";
        case WIRE_SET_MAX_LOCK_TIME:   return "SET_MAX_LOCK_TIME";
        case WIRE_SET_DEFAULT_TIMEOUT: return "SET_DEFAULT_TIMEOUT";
        case WIRE_PING:                return "PING";
        case WIRE_GET_STATS:           return "GET_STATS";
        case WIRE_OK:                  return "OK";
        case WIRE_WELCOME:             return "WELCOME";
        case WIRE_ACQUIRED:            return "ACQUIRED";
        case WIRE_VALUE:               return "VALUE";
        case WIRE_PUBLISHED:           return "PUBLISHED";
        case WIRE_PUBLICATIONS:        return "PUBLICATIONS";
        case WIRE_LOCKS:               return "LOCKS";
        case WIRE_CLIENTS:             return "CLIENTS";
        case WIRE_STATUS:              return "STATUS";
        case WIRE_STATS:               return "STATS";
        case WIRE_ERROR:               return "ERROR";
        case WIRE_LOCK_LOST:           return "LOCK_LOST";
        case WIRE_MESSAGE_PUBLISHED:   return "MESSAGE_PUBLISHED";
        default:                       return NULL;
        }
}

/* ---- little-endian integers, independent of the host's order and alignment ---- */

static inline uint16_t le16_read(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static inline uint32_t le32_read(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static inline uint64_t le64_read(const uint8_t *p) {
        return (uint64_t) le32_read(p) | (uint64_t) le32_read(p + 4) << 32;
}

static inline void le16_write(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static inline void le32_write(uint8_t *p, uint32_t v) {
        for (size_t i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static inline void le64_write(uint8_t *p, uint64_t v) {
        le32_write(p, (uint32_t) v);
        le32_write(p + 4, (uint32_t) (v >> 32));
}

void wire_preamble_write(uint8_t ret[WIRE_PREAMBLE_SIZE]) {
        memcpy(ret, WIRE_MAGIC, 4);
        le16_write(ret + 4, WIRE_VERSION);
        le16_write(ret + 6, WIRE_VERSION);
}

int wire_preamble_parse(const uint8_t preamble[WIRE_PREAMBLE_SIZE]) {
        uint16_t lowest, highest;

        if (memcmp(preamble, WIRE_MAGIC, 4) != 0)
                return -EBADMSG;
        lowest = le16_read(preamble + 4);
        highest = le16_read(preamble + 6);
        if (lowest > WIRE_VERSION || highest < WIRE_VERSION)
                return -EPROTONOSUPPORT;
        return WIRE_VERSION;
}

int wire_header_parse(const uint8_t data[WIRE_HEADER_SIZE], uint32_t max_size, WireHeader *ret) {
        WireHeader h = {
                .size = le32_read(data),
                .type = le16_read(data + 4),
                .flags = le16_read(data + 6),
                .serial = le32_read(data + 8),
        };

        if (h.flags & ~_WIRE_FLAGS_KNOWN)
                return -EBADMSG;
        if (h.size > max_size || h.size > WIRE_FRAME_MAX)
                return -EMSGSIZE;
        *ret = h;
        return 0;
}

/* ---- reading a body: every getter fails once the reader has failed ---- */

typedef struct Reader {
        const uint8_t *p;
        const uint8_t *end;
        bool failed;
} Reader;

static const uint8_t *reader_take(Reader *r, size_t n) {
        const uint8_t *p = r->p;

        if (r->failed || (size_t) (r->end - r->p) < n) {
                r->failed = true;
                return NULL;
        }
        r->p += n;
        return p;
}

static uint64_t get_u64(Reader *r) {
        const uint8_t *p = reader_take(r, 8);
        return p ? le64_read(p) : 0;
}

static uint32_t get_u32(Reader *r) {
        const uint8_t *p = reader_take(r, 4);
        return p ? le32_read(p) : 0;
}

static uint16_t get_u16(Reader *r) {
        const uint8_t *p = reader_take(r, 2);
        return p ? le16_read(p) : 0;
}

static bool get_bool(Reader *r) {
        const uint8_t *p = reader_take(r, 1);

        if (p && *p > 1)
                r->failed = true;
        return p && *p == 1;
}

static void get_id(Reader *r, uint8_t ret[WIRE_LOCK_ID_SIZE]) {
        const uint8_t *p = reader_take(r, WIRE_LOCK_ID_SIZE);

        if (p)
                memcpy(ret, p, WIRE_LOCK_ID_SIZE);
        else
                memset(ret, 0, WIRE_LOCK_ID_SIZE);
}

/* UTF-8 that D-Bus can carry too: sd-bus refuses the Unicode noncharacters (U+FDD0..U+FDEF and the
 * last two of every plane), so a wire client must not be able to lock a path, take a name or send a
 * message that the daemon could not put in a D-Bus reply or signal for everyone else. */
static bool str_is_valid(const char *s, size_t length) {
        const char *end = s + length;

        if (!g_utf8_validate_len(s, length, NULL))
                return false;
        for (const char *p = s; p < end; p = g_utf8_next_char(p)) {
                gunichar c;

                if ((unsigned char) *p < 0x80)
                        continue;
                c = g_utf8_get_char(p);
                if ((c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFE) == 0xFFFE)
                        return false;
        }
        return true;
}

static const char *get_str(Reader *r) {
        uint32_t length = get_u32(r);
        const uint8_t *p;

        /* The length and its zero byte must fit in what is left, without overflowing. */
        if (r->failed || (size_t) (r->end - r->p) <= length) {
                r->failed = true;
                return "";
        }
        p = reader_take(r, (size_t) length + 1);
        if (p[length] != 0 || memchr(p, 0, length) || !str_is_valid((const char *) p, length)) {
                r->failed = true;
                return "";
        }
        return (const char *) p;
}

/* Room for count items of at least min_size bytes each: refuses counts the body cannot hold, so
 * what is allocated stays in proportion to the frame. */
static bool count_fits(Reader *r, uint32_t count, size_t min_size) {
        if (r->failed || count > (size_t) (r->end - r->p) / min_size) {
                r->failed = true;
                return false;
        }
        return true;
}

/* The smallest encodings: a str is 5 bytes, a strv 4. */
#define STR_MIN 5
#define STRV_MIN 4

/* What decoding allocates: most bodies have one array at most, kept without a list. */
typedef struct Allocations {
        void *first;
        GPtrArray *more;
} Allocations;

static void *allocations_add(Allocations *a, void *block) {
        if (!a->first)
                a->first = block;
        else {
                if (!a->more)
                        a->more = g_ptr_array_new_with_free_func(g_free);
                g_ptr_array_add(a->more, block);
        }
        return block;
}

static void allocations_free(Allocations *a) {
        g_free(a->first);
        if (a->more)
                g_ptr_array_free(a->more, true);
        *a = (Allocations) {};
}

/* Strings of one strv, in one allocation. */
static void get_strv(Reader *r, Allocations *allocated, const char ***ret, size_t *ret_n) {
        uint32_t count = get_u32(r);
        const char **v;

        *ret = NULL;
        *ret_n = 0;
        if (!count_fits(r, count, STR_MIN))
                return;

        v = allocations_add(allocated, g_new(const char *, (size_t) count + 1));
        for (uint32_t i = 0; i < count; i++)
                v[i] = get_str(r);
        v[count] = NULL;
        *ret = v;
        *ret_n = count;
}

static void *get_array(Reader *r, Allocations *allocated, size_t item_size, size_t min_size, size_t *ret_n) {
        uint32_t count = get_u32(r);
        void *items;

        *ret_n = 0;
        if (!count_fits(r, count, min_size))
                return NULL;
        items = allocations_add(allocated, g_malloc0_n(MAX(count, 1u), item_size));
        *ret_n = count;
        return items;
}

static int decode_body(Reader *r, Allocations *allocated, WireMessage *m) {
        switch (m->header.type) {
        case WIRE_HELLO:
        case WIRE_SET_NAME:
                m->hello.flags = get_u64(r);
                m->hello.name = get_str(r);
                if (m->hello.flags != 0)
                        return -EBADMSG;
                break;

        case WIRE_ACQUIRE:
                m->acquire.flags = get_u64(r);
                m->acquire.timeout_usec = get_u64(r);
                m->acquire.ttl_usec = get_u64(r);
                get_strv(r, allocated, &m->acquire.paths, &m->acquire.n_paths);
                if (m->acquire.flags & ~_WIRE_ACQUIRE_KNOWN)
                        return -EBADMSG;
                break;

        case WIRE_RELEASE:
        case WIRE_FORCE_RELEASE:
                get_id(r, m->lock_ref.lock_id);
                break;

        case WIRE_REFRESH:
                get_id(r, m->refresh.lock_id);
                m->refresh.ttl_usec = get_u64(r);
                break;

        case WIRE_PUBLISH:
                m->publish.flags = get_u64(r);
                m->publish.timeout_usec = get_u64(r);
                m->publish.message = get_str(r);
                get_strv(r, allocated, &m->publish.receivers, &m->publish.n_receivers);
                if (m->publish.flags & ~_WIRE_PUBLISH_KNOWN)
                        return -EBADMSG;
                break;

        case WIRE_GET_MESSAGE:
        case WIRE_POP_MESSAGE:
        case WIRE_HAS_MESSAGE:
                m->message_ref.message = get_str(r);
                break;

        case WIRE_REMOVE_MESSAGE:
                m->remove_message.message = get_str(r);
                get_strv(r, allocated, &m->remove_message.senders, &m->remove_message.n_senders);
                break;

        case WIRE_SET_MAX_LOCK_TIME:
        case WIRE_SET_DEFAULT_TIMEOUT:
                m->usec.usec = get_u64(r);
                break;

        case WIRE_LIST_MESSAGES:
        case WIRE_LIST_LOCKS:
        case WIRE_LIST_CLIENTS:
        case WIRE_GET_STATUS:
        case WIRE_PING:
        case WIRE_GET_STATS:
        case WIRE_OK:
                break;

        case WIRE_WELCOME:
                m->welcome.version = get_u16(r);
                m->welcome.client_id = get_str(r);
                m->welcome.server_version = get_str(r);
                m->welcome.max_lock_usec = get_u64(r);
                m->welcome.default_timeout_usec = get_u64(r);
                m->welcome.max_frame_size = get_u32(r);
                m->welcome.max_in_flight = get_u32(r);
                m->welcome.max_paths = get_u32(r);
                break;

        case WIRE_ACQUIRED:
                get_id(r, m->acquired.lock_id);
                m->acquired.token = get_u64(r);
                m->acquired.expires_usec = get_u64(r);
                break;

        case WIRE_VALUE:
                m->value.value = get_u64(r);
                break;

        case WIRE_PUBLISHED:
                m->published.publication_id = get_str(r);
                break;

        case WIRE_PUBLICATIONS: {
                WirePublication *items = get_array(r, allocated, sizeof(WirePublication), 4 * STR_MIN + 16,
                                                   &m->publications.n_items);

                m->publications.items = items;
                for (size_t i = 0; i < m->publications.n_items; i++) {
                        items[i].message = get_str(r);
                        items[i].publication_id = get_str(r);
                        items[i].sender = get_str(r);
                        items[i].sender_name = get_str(r);
                        items[i].published_usec = get_u64(r);
                        items[i].expires_usec = get_u64(r);
                }
                break;
        }

        case WIRE_LOCKS: {
                WireLockInfo *items = get_array(r, allocated, sizeof(WireLockInfo),
                                                WIRE_LOCK_ID_SIZE + STRV_MIN + 2 * STR_MIN + 8 + 1 + 16,
                                                &m->locks.n_items);

                m->locks.items = items;
                for (size_t i = 0; i < m->locks.n_items; i++) {
                        get_id(r, items[i].lock_id);
                        get_strv(r, allocated, &items[i].paths, &items[i].n_paths);
                        items[i].owner = get_str(r);
                        items[i].owner_name = get_str(r);
                        items[i].token = get_u64(r);
                        items[i].shared = get_bool(r);
                        items[i].acquired_usec = get_u64(r);
                        items[i].expires_usec = get_u64(r);
                }
                break;
        }

        case WIRE_CLIENTS: {
                WireClientInfo *items = get_array(r, allocated, sizeof(WireClientInfo), 3 * STR_MIN + 8,
                                                  &m->clients.n_items);

                m->clients.items = items;
                for (size_t i = 0; i < m->clients.n_items; i++) {
                        items[i].id = get_str(r);
                        items[i].name = get_str(r);
                        items[i].uid = get_u32(r);
                        items[i].pid = get_u32(r);
                        items[i].transport = get_str(r);
                }
                break;
        }

        case WIRE_STATUS:
                m->status.version = get_str(r);
                m->status.max_lock_usec = get_u64(r);
                m->status.default_timeout_usec = get_u64(r);
                m->status.lock_count = get_u32(r);
                m->status.waiter_count = get_u32(r);
                m->status.client_count = get_u32(r);
                break;

        case WIRE_STATS: {
                WireStatsValue *values;
                WireStatsHistogram *histograms;
                WireStatsPath *paths;

                values = get_array(r, allocated, sizeof(WireStatsValue), STR_MIN + 8, &m->stats.n_values);
                m->stats.values = values;
                for (size_t i = 0; i < m->stats.n_values; i++) {
                        values[i].name = get_str(r);
                        values[i].value = get_u64(r);
                }

                histograms = get_array(r, allocated, sizeof(WireStatsHistogram), STR_MIN + 16 + 4,
                                       &m->stats.n_histograms);
                m->stats.histograms = histograms;
                for (size_t i = 0; i < m->stats.n_histograms; i++) {
                        uint64_t *buckets;

                        histograms[i].name = get_str(r);
                        histograms[i].count = get_u64(r);
                        histograms[i].sum_usec = get_u64(r);
                        buckets = get_array(r, allocated, sizeof(uint64_t), 8, &histograms[i].n_buckets);
                        for (size_t j = 0; j < histograms[i].n_buckets; j++)
                                buckets[j] = get_u64(r);
                        histograms[i].buckets = buckets;
                }

                paths = get_array(r, allocated, sizeof(WireStatsPath), STR_MIN + 8, &m->stats.n_contended);
                m->stats.contended = paths;
                for (size_t i = 0; i < m->stats.n_contended; i++) {
                        paths[i].path = get_str(r);
                        paths[i].waits = get_u64(r);
                }
                break;
        }

        case WIRE_ERROR:
                m->error.name = get_str(r);
                m->error.message = get_str(r);
                break;

        case WIRE_LOCK_LOST:
                get_id(r, m->lock_lost.lock_id);
                m->lock_lost.reason = get_u32(r);
                break;

        case WIRE_MESSAGE_PUBLISHED:
                m->message_published.publication_id = get_str(r);
                m->message_published.sender = get_str(r);
                m->message_published.message = get_str(r);
                m->message_published.expires_usec = get_u64(r);
                break;

        default:
                return -EOPNOTSUPP;
        }

        return r->failed ? -EBADMSG : 0;
}

int wire_message_decode(const WireHeader *header, const uint8_t *body, WireMessage *ret) {
        static const uint8_t empty[1];
        /* An empty body may come as NULL. */
        Reader r = { .p = body ?: empty, .end = (body ?: empty) + header->size };
        Allocations allocated = {};
        int k;

        *ret = (WireMessage) { .header = *header };

        k = decode_body(&r, &allocated, ret);
        if (k < 0) {
                allocations_free(&allocated);
                *ret = (WireMessage) { .header = *header };
                return k;
        }
        if (allocated.more) {
                g_ptr_array_add(allocated.more, allocated.first);
                ret->allocated = allocated.more;
                ret->allocated_list = true;
        } else
                ret->allocated = allocated.first;
        return 0;
}

void wire_message_clear(WireMessage *m) {
        if (m->allocated_list)
                g_ptr_array_free(m->allocated, true);
        else
                g_free(m->allocated);
        m->allocated = NULL;
        m->allocated_list = false;
}

/* ---- buffers ---- */

uint8_t *wire_buffer_reserve(WireBuffer *b, size_t n) {
        if (b->allocated - b->end >= n)
                return b->data + b->end;

        /* Move what is left to the front before growing: a queue that drains never grows. */
        if (b->start > 0) {
                memmove(b->data, b->data + b->start, b->end - b->start);
                b->end -= b->start;
                b->start = 0;
                if (b->allocated - b->end >= n)
                        return b->data + b->end;
        }

        size_t want = MAX(b->end + n, MAX(b->allocated * 2, (size_t) 4096));
        b->data = g_realloc(b->data, want);
        b->allocated = want;
        return b->data + b->end;
}

void wire_buffer_consume(WireBuffer *b, size_t n) {
        g_assert(n <= b->end - b->start);
        b->start += n;
        if (b->start == b->end)
                b->start = b->end = 0;
}

void wire_buffer_done(WireBuffer *b) {
        g_free(b->data);
        *b = (WireBuffer) {};
}

/* ---- writing a body ---- */

typedef struct Writer {
        WireBuffer *b;
        size_t frame_offset;    /* of the frame's header from b->start: growing may move data */
        uint32_t max_size;
        bool failed;
} Writer;

static size_t writer_body_size(const Writer *w) {
        return wire_buffer_length(w->b) - w->frame_offset - WIRE_HEADER_SIZE;
}

static uint8_t *writer_take(Writer *w, size_t n) {
        uint8_t *p = wire_buffer_reserve(w->b, n);

        w->b->end += n;
        return p;
}

static void put_u64(Writer *w, uint64_t v) {
        le64_write(writer_take(w, 8), v);
}

static void put_u32(Writer *w, uint32_t v) {
        le32_write(writer_take(w, 4), v);
}

static void put_u16(Writer *w, uint16_t v) {
        le16_write(writer_take(w, 2), v);
}

static void put_bool(Writer *w, bool v) {
        *writer_take(w, 1) = v ? 1 : 0;
}

static void put_id(Writer *w, const uint8_t id[WIRE_LOCK_ID_SIZE]) {
        memcpy(writer_take(w, WIRE_LOCK_ID_SIZE), id, WIRE_LOCK_ID_SIZE);
}

static void put_str(Writer *w, const char *s) {
        size_t length = s ? strlen(s) : 0;
        uint8_t *p;

        /* Stop at the limit rather than copy what cannot be sent. */
        if (w->failed || length > w->max_size || writer_body_size(w) + 5 + length > w->max_size) {
                w->failed = true;
                return;
        }
        put_u32(w, (uint32_t) length);
        p = writer_take(w, length + 1);
        memcpy(p, s ? s : "", length + 1);
}

static void put_strv(Writer *w, const char *const *v, size_t n) {
        if (n > w->max_size) {
                w->failed = true;
                return;
        }
        put_u32(w, (uint32_t) n);
        for (size_t i = 0; i < n && !w->failed; i++)
                put_str(w, v[i]);
}

static int encode_body(Writer *w, const WireMessage *m) {
        switch (m->header.type) {
        case WIRE_HELLO:
        case WIRE_SET_NAME:
                put_u64(w, m->hello.flags);
                put_str(w, m->hello.name);
                break;

        case WIRE_ACQUIRE:
                put_u64(w, m->acquire.flags);
                put_u64(w, m->acquire.timeout_usec);
                put_u64(w, m->acquire.ttl_usec);
                put_strv(w, m->acquire.paths, m->acquire.n_paths);
                break;

        case WIRE_RELEASE:
        case WIRE_FORCE_RELEASE:
                put_id(w, m->lock_ref.lock_id);
                break;

        case WIRE_REFRESH:
                put_id(w, m->refresh.lock_id);
                put_u64(w, m->refresh.ttl_usec);
                break;

        case WIRE_PUBLISH:
                put_u64(w, m->publish.flags);
                put_u64(w, m->publish.timeout_usec);
                put_str(w, m->publish.message);
                put_strv(w, m->publish.receivers, m->publish.n_receivers);
                break;

        case WIRE_GET_MESSAGE:
        case WIRE_POP_MESSAGE:
        case WIRE_HAS_MESSAGE:
                put_str(w, m->message_ref.message);
                break;

        case WIRE_REMOVE_MESSAGE:
                put_str(w, m->remove_message.message);
                put_strv(w, m->remove_message.senders, m->remove_message.n_senders);
                break;

        case WIRE_SET_MAX_LOCK_TIME:
        case WIRE_SET_DEFAULT_TIMEOUT:
                put_u64(w, m->usec.usec);
                break;

        case WIRE_LIST_MESSAGES:
        case WIRE_LIST_LOCKS:
        case WIRE_LIST_CLIENTS:
        case WIRE_GET_STATUS:
        case WIRE_PING:
        case WIRE_GET_STATS:
        case WIRE_OK:
                break;

        case WIRE_WELCOME:
                put_u16(w, m->welcome.version);
                put_str(w, m->welcome.client_id);
                put_str(w, m->welcome.server_version);
                put_u64(w, m->welcome.max_lock_usec);
                put_u64(w, m->welcome.default_timeout_usec);
                put_u32(w, m->welcome.max_frame_size);
                put_u32(w, m->welcome.max_in_flight);
                put_u32(w, m->welcome.max_paths);
                break;

        case WIRE_ACQUIRED:
                put_id(w, m->acquired.lock_id);
                put_u64(w, m->acquired.token);
                put_u64(w, m->acquired.expires_usec);
                break;

        case WIRE_VALUE:
                put_u64(w, m->value.value);
                break;

        case WIRE_PUBLISHED:
                put_str(w, m->published.publication_id);
                break;

        case WIRE_PUBLICATIONS:
                put_u32(w, (uint32_t) m->publications.n_items);
                for (size_t i = 0; i < m->publications.n_items && !w->failed; i++) {
                        const WirePublication *p = &m->publications.items[i];

                        put_str(w, p->message);
                        put_str(w, p->publication_id);
                        put_str(w, p->sender);
                        put_str(w, p->sender_name);
                        put_u64(w, p->published_usec);
                        put_u64(w, p->expires_usec);
                }
                break;

        case WIRE_LOCKS:
                put_u32(w, (uint32_t) m->locks.n_items);
                for (size_t i = 0; i < m->locks.n_items && !w->failed; i++) {
                        const WireLockInfo *l = &m->locks.items[i];

                        put_id(w, l->lock_id);
                        put_strv(w, l->paths, l->n_paths);
                        put_str(w, l->owner);
                        put_str(w, l->owner_name);
                        put_u64(w, l->token);
                        put_bool(w, l->shared);
                        put_u64(w, l->acquired_usec);
                        put_u64(w, l->expires_usec);
                }
                break;

        case WIRE_CLIENTS:
                put_u32(w, (uint32_t) m->clients.n_items);
                for (size_t i = 0; i < m->clients.n_items && !w->failed; i++) {
                        const WireClientInfo *c = &m->clients.items[i];

                        put_str(w, c->id);
                        put_str(w, c->name);
                        put_u32(w, c->uid);
                        put_u32(w, c->pid);
                        put_str(w, c->transport);
                }
                break;

        case WIRE_STATUS:
                put_str(w, m->status.version);
                put_u64(w, m->status.max_lock_usec);
                put_u64(w, m->status.default_timeout_usec);
                put_u32(w, m->status.lock_count);
                put_u32(w, m->status.waiter_count);
                put_u32(w, m->status.client_count);
                break;

        case WIRE_STATS:
                put_u32(w, (uint32_t) m->stats.n_values);
                for (size_t i = 0; i < m->stats.n_values && !w->failed; i++) {
                        put_str(w, m->stats.values[i].name);
                        put_u64(w, m->stats.values[i].value);
                }
                put_u32(w, (uint32_t) m->stats.n_histograms);
                for (size_t i = 0; i < m->stats.n_histograms && !w->failed; i++) {
                        const WireStatsHistogram *h = &m->stats.histograms[i];

                        put_str(w, h->name);
                        put_u64(w, h->count);
                        put_u64(w, h->sum_usec);
                        put_u32(w, (uint32_t) h->n_buckets);
                        for (size_t j = 0; j < h->n_buckets; j++)
                                put_u64(w, h->buckets[j]);
                }
                put_u32(w, (uint32_t) m->stats.n_contended);
                for (size_t i = 0; i < m->stats.n_contended && !w->failed; i++) {
                        put_str(w, m->stats.contended[i].path);
                        put_u64(w, m->stats.contended[i].waits);
                }
                break;

        case WIRE_ERROR:
                put_str(w, m->error.name);
                put_str(w, m->error.message);
                break;

        case WIRE_LOCK_LOST:
                put_id(w, m->lock_lost.lock_id);
                put_u32(w, m->lock_lost.reason);
                break;

        case WIRE_MESSAGE_PUBLISHED:
                put_str(w, m->message_published.publication_id);
                put_str(w, m->message_published.sender);
                put_str(w, m->message_published.message);
                put_u64(w, m->message_published.expires_usec);
                break;

        default:
                return -EOPNOTSUPP;
        }
        return 0;
}

/* A string the protocol cannot carry: the receiver would refuse the frame. */
static bool str_is_bad(const char *s) {
        return s && !str_is_valid(s, strlen(s));
}

static bool message_has_bad_string(const WireMessage *m) {
        switch (m->header.type) {
        case WIRE_HELLO: case WIRE_SET_NAME:
                return str_is_bad(m->hello.name);
        case WIRE_ACQUIRE:
                for (size_t i = 0; i < m->acquire.n_paths; i++)
                        if (!m->acquire.paths[i] || str_is_bad(m->acquire.paths[i]))
                                return true;
                return false;
        case WIRE_PUBLISH:
                for (size_t i = 0; i < m->publish.n_receivers; i++)
                        if (!m->publish.receivers[i] || str_is_bad(m->publish.receivers[i]))
                                return true;
                return str_is_bad(m->publish.message);
        case WIRE_REMOVE_MESSAGE:
                for (size_t i = 0; i < m->remove_message.n_senders; i++)
                        if (!m->remove_message.senders[i] || str_is_bad(m->remove_message.senders[i]))
                                return true;
                return str_is_bad(m->remove_message.message);
        case WIRE_GET_MESSAGE: case WIRE_POP_MESSAGE: case WIRE_HAS_MESSAGE:
                return str_is_bad(m->message_ref.message);
        default:
                /* What the server writes comes from its own validated state. */
                return false;
        }
}

int wire_message_encode(WireBuffer *b, const WireMessage *m, uint32_t max_size) {
        Writer w = { .b = b, .max_size = MIN(max_size, WIRE_FRAME_MAX) };
        size_t size;
        int r;

        /* Requests carry what a caller passed: check it here, so that a bad string fails the call
         * instead of the connection. */
        if (message_has_bad_string(m))
                return -EINVAL;

        w.frame_offset = wire_buffer_length(b);
        (void) writer_take(&w, WIRE_HEADER_SIZE);

        r = encode_body(&w, m);
        size = writer_body_size(&w);
        if (r >= 0 && (w.failed || size > w.max_size))
                r = -EMSGSIZE;
        if (r < 0) {
                b->end = b->start + w.frame_offset;
                return r;
        }

        uint8_t *h = b->data + b->start + w.frame_offset;
        le32_write(h, (uint32_t) size);
        le16_write(h + 4, m->header.type);
        le16_write(h + 6, m->header.flags);
        le32_write(h + 8, m->header.serial);
        return 0;
}
