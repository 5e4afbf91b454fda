/* An intrusive binary min-heap of deadlines: one timer structure for every timeout in the daemon. */
#include <glib.h>

#include "deadline-heap.h"

void deadline_heap_deinit(DeadlineHeap *heap) {
        for (size_t i = 0; i < heap->n_nodes; i++)
                heap->nodes[i]->index = 0;
        g_free(heap->nodes);
        *heap = (DeadlineHeap) DEADLINE_HEAP_INIT;
}

static void heap_set(DeadlineHeap *heap, size_t pos, DeadlineHeapNode *node) {
        heap->nodes[pos] = node;
        node->index = (uint32_t) (pos + 1);
}

static void heap_sift_up(DeadlineHeap *heap, size_t pos) {
        DeadlineHeapNode *node = heap->nodes[pos];

        while (pos > 0) {
                size_t parent = (pos - 1) / 2;

                if (heap->nodes[parent]->deadline <= node->deadline)
                        break;
                heap_set(heap, pos, heap->nodes[parent]);
                pos = parent;
        }
        heap_set(heap, pos, node);
}

static void heap_sift_down(DeadlineHeap *heap, size_t pos) {
        DeadlineHeapNode *node = heap->nodes[pos];

        for (;;) {
                size_t child = 2 * pos + 1;

                if (child >= heap->n_nodes)
                        break;
                if (child + 1 < heap->n_nodes &&
                    heap->nodes[child + 1]->deadline < heap->nodes[child]->deadline)
                        child++;
                if (node->deadline <= heap->nodes[child]->deadline)
                        break;
                heap_set(heap, pos, heap->nodes[child]);
                pos = child;
        }
        heap_set(heap, pos, node);
}

void deadline_heap_put(DeadlineHeap *heap, DeadlineHeapNode *node, uint64_t deadline) {
        if (deadline_heap_node_is_queued(node)) {
                uint64_t old = node->deadline;

                node->deadline = deadline;
                if (deadline < old)
                        heap_sift_up(heap, node->index - 1);
                else
                        heap_sift_down(heap, node->index - 1);
                return;
        }

        /* A 32-bit index: 4 billion deadlines would take far more memory than there is. */
        g_assert_cmpuint(heap->n_nodes, <, UINT32_MAX);
        if (heap->n_nodes == heap->n_allocated) {
                heap->n_allocated = MAX(heap->n_allocated * 2, DEADLINE_HEAP_MIN_ALLOCATED);
                heap->nodes = g_renew(DeadlineHeapNode *, heap->nodes, heap->n_allocated);
        }
        node->deadline = deadline;
        heap->nodes[heap->n_nodes++] = node;
        heap_sift_up(heap, heap->n_nodes - 1);
}

void deadline_heap_remove(DeadlineHeap *heap, DeadlineHeapNode *node) {
        size_t pos;
        DeadlineHeapNode *last;

        if (!deadline_heap_node_is_queued(node))
                return;

        pos = node->index - 1;
        node->index = 0;
        last = heap->nodes[--heap->n_nodes];
        if (last != node) {
                heap_set(heap, pos, last);
                if (pos > 0 && heap->nodes[(pos - 1) / 2]->deadline > last->deadline)
                        heap_sift_up(heap, pos);
                else
                        heap_sift_down(heap, pos);
        }

        /* Halving at a quarter, not at a half, so that a heap that hovers around a size does not
         * resize on every put and remove. */
        if (heap->n_allocated > DEADLINE_HEAP_MIN_ALLOCATED && heap->n_nodes < heap->n_allocated / 4) {
                heap->n_allocated /= 2;
                heap->nodes = g_renew(DeadlineHeapNode *, heap->nodes, heap->n_allocated);
        }
}
