/* An intrusive binary min-heap of deadlines: one timer structure for every timeout in the daemon. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Embedded in whatever has a deadline; index is 1-based, 0 when not in a heap. */
typedef struct DeadlineHeapNode {
        uint64_t deadline;
        uint32_t index;
        /* Never touched by the heap: room for a few small fields of the struct that embeds the node,
         * which would otherwise cost it 8 bytes of padding after the index. */
        uint32_t spare;
} DeadlineHeapNode;

typedef struct DeadlineHeap {
        DeadlineHeapNode **nodes;
        size_t n_nodes;
        size_t n_allocated;
} DeadlineHeap;

#define DEADLINE_HEAP_INIT { NULL, 0, 0 }

/* The array never shrinks below this many nodes once allocated. */
#define DEADLINE_HEAP_MIN_ALLOCATED 64

void deadline_heap_deinit(DeadlineHeap *heap);

/* Inserts the node, or moves it when it is in the heap already. O(log n). */
void deadline_heap_put(DeadlineHeap *heap, DeadlineHeapNode *node, uint64_t deadline);
/* Removes the node if it is in the heap. O(log n). The array is halved once it is three quarters empty,
 * so that a heap that was large gives its memory back. */
void deadline_heap_remove(DeadlineHeap *heap, DeadlineHeapNode *node);

static inline DeadlineHeapNode *deadline_heap_peek(const DeadlineHeap *heap) {
        return heap->n_nodes > 0 ? heap->nodes[0] : NULL;
}

static inline bool deadline_heap_node_is_queued(const DeadlineHeapNode *node) {
        return node->index != 0;
}
